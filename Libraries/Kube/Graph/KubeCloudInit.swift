/// The cloud-init userdata of a job VM. It writes only the agent's `agent.json` (mode 0600,
/// base64) and, for inference replicas, formats and mounts the model cache at `/models`. It
/// brings no systemd unit and starts nothing: the agent image's own units
/// (`deploy/agent-image/systemd/`, hardened, enabled in the image) start the agent of the config's
/// kind once the file exists. It lives in a Secret because KubeVirt caps inline userdata at
/// 2048 bytes.
public enum KubeCloudInit {
  /// The userdata for an agent: its config and, when `modelCacheSerial` names the model cache
  /// disk, that disk's filesystem and mount.
  public static func userData(agentConfigJSON: [UInt8], modelCacheSerial: String? = nil) -> String {
    let config: KubeJSON = [
      "path": .string(KubeNames.agentConfigPath), "owner": "root:root", "permissions": "0600",
      "encoding": "b64",
      "content": .string(Base64.encode(agentConfigJSON)),
    ]
    var document: KubeJSON = ["write_files": [config]]
    if let serial = modelCacheSerial {
      let device = "/dev/disk/by-id/virtio-\(serial)"
      document["fs_setup"] = [["device": .string(device), "filesystem": "ext4", "overwrite": false]]
      document["mounts"] = [[.string(device), "/models", "ext4", "defaults,nofail", "0", "2"]]
    }
    return "#cloud-config\n" + KubeYAML.render(document)
  }

  /// The `agent.json` bytes inside userdata written by `userData` (for the fake controller and
  /// tests); nil when absent.
  public static func agentConfig(fromUserData text: String) -> [UInt8]? {
    guard let document = try? KubeYAML.parse(text) else { return nil }
    for file in document["write_files"]?.arrayValue ?? []
    where file["path"]?.stringValue == KubeNames.agentConfigPath {
      guard let content = file["content"]?.stringValue else { return nil }
      return file["encoding"]?.stringValue == "b64" ? Base64.decode(content) : Array(content.utf8)
    }
    return nil
  }
}
