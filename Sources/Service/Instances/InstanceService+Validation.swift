import IMCCache
import IMCDocuments
import IMCInstance
import IMCModel
import IMCServiceSupport

/// What an instance request may ask for: every refusal names the field and the value.
extension InstanceService {
    /// A VpcId or SubnetId: 1 to 64 letters, digits, '-' or '_'.
    static func isNetworkID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 64 && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    func validate(_ r: InstanceRequest) throws {
        guard !r.containers.isEmpty else { throw ServiceError.missing("Containers", "Containers must name at least one container") }
        if let vpc = r.vpcID {
            guard Self.isNetworkID(vpc) else {
                throw ServiceError.invalidValue("VpcId", "VpcId \"\(vpc.prefix(64))\" must be 1 to 64 letters, digits, '-' or '_'")
            }
            if let subnet = r.subnetID, !Self.isNetworkID(subnet) {
                throw ServiceError.invalidValue("SubnetId", "SubnetId \"\(subnet.prefix(64))\" must be 1 to 64 letters, digits, '-' or '_'")
            }
        }
        guard r.securityGroupIDs.count <= 5 else {
            throw ServiceError.invalidValue(
                "SecurityGroupIds", "SecurityGroupIds has \(r.securityGroupIDs.count) groups; an instance has at most 5")
        }
        for group in r.securityGroupIDs where network.securityGroups[group] == nil {
            // The code the platform's instance creation returns for a group that is not there.
            throw ServiceError(
                .invalidValue,
                "SecurityGroupIds \(group.prefix(64)) does not exist; the groups are \(network.securityGroups.keys.sorted().joined(separator: ", "))",
                field: "SecurityGroupIds", specificCode: "InvalidSecurityGroupId.NotFound")
        }
        let all = r.initContainers.map { ("InitContainers", $0) } + r.containers.map { ("Containers", $0) }
        guard all.count <= limits.maximumContainers else {
            throw ServiceError.invalidValue(
                "Containers", "an instance has at most \(limits.maximumContainers) containers, not \(all.count)")
        }
        var names = Set<String>()
        var index: [String: Int] = [:]
        for (field, c) in all {
            let i = index[field, default: 0]
            index[field] = i + 1
            let path = FieldPath(stringLiteral: field).index(i)
            guard Self.isDNSLabel(c.name) else {
                throw ServiceError.invalidValue(
                    path.key("Name"),
                    "\(path).Name \"\(c.name.prefix(80))\" must be 1 to 63 lower-case letters, digits or '-', starting and ending with a letter or digit"
                )
            }
            guard names.insert(c.name).inserted else {
                throw ServiceError.invalidValue(path.key("Name"), "\(path).Name \"\(c.name)\" is used twice")
            }
            do { _ = try ImageReference(parsing: c.image) } catch {
                throw ServiceError.invalidValue(path.key("Image"), "\(path).Image: \(error.message)")
            }
            for (j, e) in c.env.enumerated() where e.name.isEmpty || e.name.contains("=") || e.name.contains("\0") || e.value.contains("\0")
            {
                throw ServiceError.invalidValue(
                    path.key("EnvironmentVars").index(j).key("Name"),
                    "\(path).EnvironmentVars[\(j)].Name \"\(e.name.prefix(60))\" is not a valid variable name")
            }
            if let w = c.workingDir, !w.isEmpty, !w.hasPrefix("/") {
                throw ServiceError.invalidValue(path.key("WorkingDir"), "\(path).WorkingDir \"\(w.prefix(100))\" must be an absolute path")
            }
            for (what, v) in [("Cpu", c.cpu), ("Memory", c.memory)] {
                if let v, !(v > 0 && v <= 1024) {
                    throw ServiceError.invalidValue(path.key(what), "\(path).\(what) must be from 0 to 1024, not \(v)")
                }
            }
        }
        for (what, v) in [("Cpu", r.cpu), ("Memory", r.memory)] {
            if let v, !(v > 0 && v <= 1024) {
                throw ServiceError.invalidValue(FieldPath(stringLiteral: what), "\(what) must be from 0 to 1024, not \(v)")
            }
        }
        if let n = r.replicas, !(1...limits.maximumReplicas).contains(n) {
            throw ServiceError.invalidValue("Replicas", "Replicas must be from 1 to \(limits.maximumReplicas), not \(n)")
        }
        if let g = r.terminationGracePeriodSeconds, !(0...3600).contains(g) {
            throw ServiceError.invalidValue(
                "TerminationGracePeriodSeconds", "TerminationGracePeriodSeconds must be from 0 to 3600, not \(g)")
        }
        if let name = r.name, name.count > 63 || !name.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value != 127 }) {
            throw ServiceError.invalidValue(
                "EksCiName", "EksCiName \"\(name.prefix(80))\" must be at most 63 printable characters without spaces")
        }
        if let use = r.cache.use, use != "auto", !RandomIDGenerator.isValid(use, prefix: "imc") {
            throw ServiceError.invalidValue(
                "ImageCacheId", "image cache \"\(use.prefix(60))\" must be auto or an image cache id (imc-xxxxxxxx)")
        }
        if let size = r.cache.diskSizeGiB, !(1...limits.maximumDiskGiB).contains(size) {
            throw ServiceError.invalidValue(
                "ImageCacheDiskSize", "image cache disk size must be from 1 to \(limits.maximumDiskGiB) GiB, not \(size)")
        }
        guard (0...limits.maximumRetainMinutes).contains(r.cache.retainMinutes) else {
            throw ServiceError.invalidValue(
                "ImageCacheDiskRetainMinutes",
                "image cache disk retain minutes must be from 0 to \(limits.maximumRetainMinutes), not \(r.cache.retainMinutes)")
        }
    }

    static func isDNSLabel(_ s: String) -> Bool {
        guard (1...63).contains(s.count), let first = s.first, let last = s.last, first != "-", last != "-" else { return false }
        return s.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" }
    }
}
