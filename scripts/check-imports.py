#!/usr/bin/env python3
"""Every module a target imports is one it declares in Package.swift.

SwiftPM's --explicit-target-dependency-import-check accepts any module in a target's recursive
dependency set, so a target can lean on what a dependency happens to bring (Observability
importing IMCCache because IMCStore depends on it). This reads each target's `import` lines and
fails on a module the target does not name itself: another target of the package, or a module of
a product it declares. The toolchain's own modules (Foundation, Glibc, Testing, ...) need no
declaration.

Run by `make test`; `--json` prints the findings for a script.
"""
import json
import os
import re
import subprocess
import sys

# Modules of the toolchain and the platform.
SYSTEM = {
    "Foundation", "FoundationEssentials", "FoundationNetworking", "FoundationInternationalization", "Glibc", "Musl", "Dispatch",
    "Synchronization", "Testing", "XCTest", "_Concurrency", "Swift", "SwiftShims", "os", "CoreFoundation", "RegexBuilder",
    "Distributed", "Observation", "SwiftGlibc",
}

# Products whose modules are not named like the product: product -> modules it gives.
PRODUCT_MODULES = {
    "NIO": {"NIO", "NIOCore", "NIOPosix", "NIOEmbedded"},
    "Hummingbird": {"Hummingbird", "HummingbirdCore"},
    "PostgresNIO": {"PostgresNIO"},
    "GRDB": {"GRDB"},
}

IMPORT = re.compile(r"^\s*(?:@[\w()]+\s+)*(?:public\s+|internal\s+|package\s+|private\s+|fileprivate\s+)?import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.M)


def package():
    out = subprocess.run(["swift", "package", "dump-package"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def declared(target):
    names = set()
    for dep in target["dependencies"]:
        if "byName" in dep:
            names.add(dep["byName"][0])
        elif "target" in dep:
            names.add(dep["target"][0])
        elif "product" in dep:
            product = dep["product"][0]
            names |= PRODUCT_MODULES.get(product, {product})
    return names


def module_name(target):
    return target["name"].replace("-", "_")


def sources(target):
    root = target.get("path") or (("Tests/" if target["type"] == "test" else "Sources/") + target["name"])
    for folder, _, files in os.walk(root):
        for f in sorted(files):
            if f.endswith(".swift"):
                yield os.path.join(folder, f)


def main():
    pkg = package()
    targets = {module_name(t): t for t in pkg["targets"]}
    findings = []
    for name, target in sorted(targets.items()):
        if target["type"] == "system":
            continue
        allowed = {n.replace("-", "_") for n in declared(target)} | SYSTEM | {name}
        for path in sources(target):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for m in IMPORT.finditer(text):
                module = m.group(1)
                if module in allowed:
                    continue
                line = text.count("\n", 0, m.start()) + 1
                findings.append({"target": target["name"], "file": path, "line": line, "module": module})
    if "--json" in sys.argv:
        print(json.dumps(findings, indent=1))
    for f in findings:
        print(f"{f['file']}:{f['line']}: target {f['target']} imports {f['module']} without declaring it", file=sys.stderr)
    if findings:
        print(f"{len(findings)} undeclared imports: declare each in Package.swift, or stop importing it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
