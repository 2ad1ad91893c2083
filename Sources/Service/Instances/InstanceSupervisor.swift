import ServiceLifecycle

/// Stops every instance when the service shuts down gracefully: their containers are stopped,
/// mounts and disks released, and they end Failed with a reason (nothing keeps running
/// unsupervised after imc exits).
public struct InstanceSupervisor: Service {
    let service: InstanceService

    public init(service: InstanceService) { self.service = service }

    public func run() async throws {
        try? await gracefulShutdown()
        await service.shutdown()
    }
}
