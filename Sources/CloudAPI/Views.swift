import Foundation
import IMCAPI
import IMCBilling
import IMCCache
import IMCInstance
import IMCModel

/// The service's values as the wire shows them (ISO-8601 times in UTC, as the real service
/// returns them; never a password).
enum Views {
    static func time(_ d: Date?) -> String? { d?.rfc3339 }

    static func credential(_ c: ImageRegistryCredential) -> CacheCredential {
        CacheCredential(server: c.Server, username: c.Username ?? "", password: c.Password ?? "", name: c.Name)
    }

    static func cache(_ c: ImageCache) -> ImageCacheView {
        ImageCacheView(
            ImageCacheId: c.id, ImageCacheName: c.name, ImageCacheSize: c.size, Images: c.images,
            CreationTime: c.creationTime.rfc3339,
            ExpireDateTime: time(c.expireDateTime), LastMatchedTime: time(c.lastMatchedTime), SnapshotId: c.snapshotID,
            Status: c.status.rawValue, RetentionDays: c.retentionDays,
            Events: c.events.map { e in
                ImageCacheEventView(
                    ImageCacheId: c.id, Type: e.type.rawValue, Reason: e.reason,
                    Message: e.count > 1 ? "\(e.message) (x\(e.count))" : e.message,
                    FirstTimestamp: e.firstTimestamp.rfc3339, LastTimestamp: e.lastTimestamp.rfc3339)
            },
            ImageRegistryCredentials: c.credentials.map {
                ImageRegistryCredentialView(Server: $0.server, Username: $0.username, Name: $0.name)
            },
            Tags: c.tags.map { Tag(Key: $0.key, Value: $0.value) }, Progress: c.progressPercent,
            RefreshIntervalMinutes: c.refreshMinutes ?? 0, Platform: c.platformName)
    }

    static func event(_ e: CacheEvent, pod: String) -> EksCiEvent {
        EksCiEvent(
            PodName: pod, Reason: e.reason, Type: e.type.rawValue, Count: e.count, Message: e.message,
            FirstTimestamp: e.firstTimestamp.rfc3339, LastTimestamp: e.lastTimestamp.rfc3339)
    }

    static func container(_ c: ContainerSpec, state: ContainerState?) -> ContainerView {
        ContainerView(
            Name: c.name, Image: c.image, Commands: c.commands ?? [], Args: c.args ?? [],
            EnvironmentVars: c.env.map { EnvironmentVar(Name: $0.name, Value: $0.value) }, WorkingDir: c.workingDir, Cpu: c.cpu,
            Memory: c.memory, RestartCount: state?.restartCount ?? 0,
            CurrentState: state.map { s in
                ContainerStateView(
                    State: s.state.rawValue, Reason: s.reason, Message: s.message, ExitCode: s.exitCode, StartTime: time(s.startTime),
                    FinishTime: time(s.finishTime), RestartCount: s.restartCount)
            })
    }

    /// What the Cloud API says of an instance's status: one of the real service's four values.
    static func status(_ i: Instance) -> EksCiStatus { status(i.status == .terminating ? (i.deletedFrom ?? .running) : i.status) }

    static func status(_ s: InstanceStatus) -> EksCiStatus {
        switch s {
        case .pending: .Pending
        case .running, .terminating: .Running
        case .succeeded: .Succeeded
        case .failed: .Failed
        }
    }

    static func instance(_ i: Instance) -> EksCi {
        EksCi(
            EksCiId: i.id, EksCiName: i.name, Status: status(i).rawValue, Cpu: i.cpu, Memory: i.memory,
            RestartPolicy: i.restartPolicy.rawValue,
            CreationTime: i.creationTime.rfc3339, SucceededTime: i.status == .succeeded ? time(i.finishTime) : nil,
            Containers: i.containers.map { container($0, state: i.states[$0.name]) },
            InitContainers: i.initContainers.map { container($0, state: i.states[$0.name]) }, SubnetId: i.subnetID, VpcId: i.vpcID,
            SecurityGroupIds: i.securityGroupIDs, PrivateIp: i.privateIP, ImageCacheId: i.cacheID,
            ImageCacheResult: i.cacheOutcome?.rawValue,
            ImageCacheDiskId: i.diskID, ImageCacheDiskSize: i.diskSizeGiB, ImageCacheDiskType: i.cache.diskType.rawValue,
            StatusMessage: i.status == .terminating
                ? "Deleting: its containers are being stopped" + (i.message.map { "; \($0)" } ?? "") : i.message,
            StartupPhases: i.phases.map {
                StartupPhaseView(Name: $0.name, Milliseconds: ($0.at.timeIntervalSince(i.creationTime) * 1000).rounded())
            }, RuntimeClassName: i.runtimeClass.rawValue, NodeName: i.node, EipAddress: i.eip?.address,
            AutoCreatedEipId: i.eip?.autoCreated == true ? i.eip?.id : nil)
    }

    static func bill(_ bill: Bill) -> DescribeImageCacheBillResponse {
        func t(_ d: Date) -> String { d.rfc3339 }
        return DescribeImageCacheBillResponse(
            Currency: bill.currency, StartTime: t(bill.from), EndTime: t(bill.to),
            LineItems: bill.items.map { i in
                BillLineItem(
                    ResourceType: i.kind.rawValue, ResourceId: i.resourceID, ImageCacheId: i.cacheID, EksCiId: i.instanceID,
                    DiskType: i.diskType,
                    StartTime: t(i.start), EndTime: t(i.end), Quantity: i.quantity, Hours: Billing.text(i.hours), Unit: i.unit,
                    UnitPrice: "\(i.unitPrice)", Amount: Billing.text(i.amount))
            },
            ImageCacheTotals: bill.cacheTotals.sorted { $0.key < $1.key }.map {
                ImageCacheTotal(ImageCacheId: $0.key, Amount: Billing.text($0.value))
            },
            TotalAmount: Billing.text(bill.total))
    }
}
