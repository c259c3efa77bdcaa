/// A job's phase as its KubeVirt and CDI objects show it.
public enum KubeJobPhase: Sendable, Hashable {
  /// Root disks are importing (`percent` of the slowest, when CDI reports it).
  case provisioning(percent: Int?)
  /// VMIs are being scheduled or booting.
  case starting
  /// Every VM runs and is ready.
  case running
  /// Halted, still shutting down.
  case stopping
  /// Halted; disks kept.
  case stopped
  /// Being deleted.
  case deleting
  /// Failed, with the reason shown to the user.
  case failed(String)
}

/// Maps VM, VMI and DataVolume status onto a job phase (the table of issue 9):
/// DataVolume import progress -> provisioning with percent; VMI Pending/Scheduling/Scheduled ->
/// starting; VMI Running and VM ready -> running; printableStatus errors (ErrImagePull,
/// ErrorUnschedulable, …) and failed imports -> failed with the reason; Halted -> stopping, then
/// stopped; a deletionTimestamp -> deleting.
public enum KubeJobObserver {
  /// VM `printableStatus` values that mean the job cannot run as specified.
  public static let failingStatuses: Set<String> = [
    "ErrImagePull", "ImagePullBackOff", "ErrorUnschedulable", "ErrorDataVolumeNotFound", "ErrorPvcNotFound",
    "DataVolumeError", "CrashLoopBackOff", "ErrorInvalidSpec",
  ]

  /// The phase, or nil when no VM exists.
  public static func phase(vms: [KubeObject], vmis: [KubeObject], dataVolumes: [KubeObject]) -> KubeJobPhase?
  {
    guard !vms.isEmpty else { return nil }
    let vms = vms.sorted { $0.name < $1.name }
    if vms.contains(where: { $0.deletionTimestamp != nil }) { return .deleting }
    for vm in vms {
      let status = vm.status?["printableStatus"]?.stringValue ?? ""
      if failingStatuses.contains(status) {
        return .failed("\(vm.name): \(status)\(conditionMessage(vm).map { ": \($0)" } ?? "")")
      }
    }
    for volume in dataVolumes.sorted(by: { $0.name < $1.name })
    where volume.status?["phase"]?.stringValue == "Failed" {
      return .failed("\(volume.name): disk import failed\(conditionMessage(volume).map { ": \($0)" } ?? "")")
    }
    let halted = vms.allSatisfy { $0.json[path: ["spec", "runStrategy"]]?.stringValue == "Halted" }
    if halted {
      let down = vms.allSatisfy { $0.status?["printableStatus"]?.stringValue == "Stopped" } && vmis.isEmpty
      return down ? .stopped : .stopping
    }
    for vmi in vmis where vmi.status?["phase"]?.stringValue == "Failed" {
      return .failed(
        "\(vmi.name): the virtual machine failed\(conditionMessage(vmi).map { ": \($0)" } ?? "")")
    }
    // Root disks still importing (only those the VMs own: a shared model cache is not the job's).
    let importing = dataVolumes.filter { volume in
      let phase = volume.status?["phase"]?.stringValue ?? "Pending"
      return phase != "Succeeded" && phase != "WaitForFirstConsumer"
        && volume.labels[KubeNames.roleLabel] != "model-cache"
    }
    if !importing.isEmpty {
      let percents = importing.compactMap { volume -> Int? in
        guard let text = volume.status?["progress"]?.stringValue, text.hasSuffix("%"),
          let value = Double(text.dropLast())
        else { return nil }
        return Int(value)
      }
      return .provisioning(percent: percents.min())
    }
    let running = vms.allSatisfy { vm in
      guard vm.status?["ready"]?.boolValue == true else { return false }
      guard let vmi = vmis.first(where: { $0.name == vm.name && $0.namespace == vm.namespace }) else {
        return false
      }
      return vmi.status?["phase"]?.stringValue == "Running"
    }
    return running ? .running : .starting
  }

  /// The message of the first condition that is not `True` and has one.
  static func conditionMessage(_ object: KubeObject) -> String? {
    for condition in object.status?["conditions"]?.arrayValue ?? [] {
      if condition["status"]?.stringValue != "True" || condition["type"]?.stringValue == "Failure",
        let message = condition["message"]?.stringValue, !message.isEmpty
      {
        return message
      }
    }
    return nil
  }
}
