import Foundation
import IMCCache

/// What a running workload adds to an instance's life: a container waiting for its config, its
/// probes' outcomes, an update of its spec, and an eviction.
extension InstanceLifecycle {
    /// A container's environment names a ConfigMap, Secret or key that is not there: it waits
    /// with the kubelet's `CreateContainerConfigError` (the Pod Pending), the reason is told as a
    /// Warning, and `step` is taken again after `retry`, until the object is there or the Pod is
    /// deleted.
    public mutating func containerConfigFailed(_ error: ContainerConfigError, retry step: Step, after retry: Duration, at time: Date)
        -> [Action]
    {
        guard !isStopping else { return [] }
        setState(error.container) {
            $0.state = .waiting
            $0.reason = "CreateContainerConfigError"
            $0.message = error.message
        }
        return [record(.failed, "Error: \(error.message)", at: time), .save, .step(step, after: retry)]
    }

    /// `UpdateEKSContainerInstance`: the record takes the new spec (containers, restart policy,
    /// name, credentials) and says so; the restart that follows runs it. Nothing while the
    /// instance is starting or stopping.
    public mutating func specChanged(to updated: Instance, at time: Date) -> [Action] {
        switch phase {
        case .running, .ended: break
        default: return []
        }
        guard !isStopping else { return [] }
        let same =
            instance.containers == updated.containers && instance.initContainers == updated.initContainers
            && instance.restartPolicy == updated.restartPolicy && instance.name == updated.name
            && instance.credentials == updated.credentials
        guard !same else { return [] }
        update {
            $0.containers = updated.containers
            $0.initContainers = updated.initContainers
            $0.restartPolicy = updated.restartPolicy
            $0.name = updated.name
            $0.credentials = updated.credentials
            $0.states = updated.states
        }
        return [record(.updated, "Updated: the instance is started again with its new spec", at: time), .save]
    }

    /// What a container's probes said (`ProbeMachine`): a failure told as the kubelet's
    /// `Unhealthy` Warning, a readiness change saved, a liveness (or startup) failure told as
    /// `Killing` before its carrier kills the container (which the policy then restarts).
    public mutating func probed(_ name: String, _ outcomes: [ProbeOutcome], at time: Date) -> [Action] {
        guard case .running(let supervision) = phase, supervision.live.contains(name), !isStopping else { return [] }
        var actions: [Action] = []
        for outcome in outcomes {
            switch outcome {
            case .unhealthy(_, let message): actions.append(record(.unhealthy, String(message.prefix(500)), at: time))
            case .ready(let ready):
                setState(name) { $0.ready = ready }
                actions.append(.save)
            case .kill(let message):
                actions.append(record(.killing, message, at: time))
                actions.append(.save)
            }
        }
        return actions
    }

    /// The Pod is evicted (a disk emptyDir past its sizeLimit), as the kubelet evicts it: a
    /// Warning says why, every container is killed and none is started again, and the instance
    /// ends Failed with the reason.
    public mutating func evicted(_ message: String, at time: Date) -> [Action] {
        guard case .running(var supervision) = phase, supervision.evicted == nil, !isStopping else { return [] }
        supervision.evicted = message
        moveTo(.running(supervision))
        return [record(.evicted, message, at: time), .save, .killContainers]
    }
}
