#!/bin/sh
# Regenerates Sources/KubernetesProtobuf from protos/*.proto with swift-protobuf's protoc-gen-swift
# (its first build takes about ten minutes on two cores, which is why the generated code is
# committed and this is not part of the build). Needs Debian's protobuf-compiler.
set -eu
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || apt-get install -y protobuf-compiler
version=1.39.0
plugin=${PROTOC_GEN_SWIFT:-}
if [ -z "$plugin" ]; then
    dir=${TMPDIR:-/tmp}/swift-protobuf-$version
    [ -d "$dir" ] || git clone -q --branch "$version" https://github.com/apple/swift-protobuf.git "$dir"
    (cd "$dir" && swift build --product protoc-gen-swift)
    plugin="$dir/.build/debug/protoc-gen-swift"
fi
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public --swift_out=Sources/KubernetesProtobuf \
    -I protos protos/*.proto
echo "generated: $(ls Sources/KubernetesProtobuf)"
swift format format --in-place --recursive Sources/KubernetesProtobuf
