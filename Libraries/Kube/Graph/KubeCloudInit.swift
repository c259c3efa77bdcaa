/// The cloud-init userdata of a job VM: writes the agent's `agent.json` (mode 0600) and a systemd
/// unit that runs the agent with it, and mounts the model cache for inference replicas. It lives
/// in a Secret because KubeVirt caps inline userdata at 2048 bytes.
public enum KubeCloudInit {
  /// The userdata for an agent.
  public static func userData(
    agentConfigJSON: [UInt8], agentExecutable: String, modelCacheSerial: String? = nil
  ) -> String {
    let unit = """
      [Unit]
      Description=CosmicAC agent
      After=network-online.target
      Wants=network-online.target

      [Service]
      ExecStart=\(agentExecutable) --config-file \(KubeNames.agentConfigPath)
      Restart=always
      RestartSec=2

      [Install]
      WantedBy=multi-user.target

      """
    var files: [KubeJSON] = [
      [
        "path": .string(KubeNames.agentConfigPath), "owner": "root:root", "permissions": "0600",
        "encoding": "b64",
        "content": .string(Base64.encode(agentConfigJSON)),
      ],
      [
        "path": "/etc/systemd/system/cosmicac-agent.service", "permissions": "0644", "content": .string(unit),
      ],
    ]
    files.sort { ($0["path"]?.stringValue ?? "") < ($1["path"]?.stringValue ?? "") }
    var document: KubeJSON = [
      "write_files": .array(files),
      "runcmd": [
        ["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", "cosmicac-agent.service"],
      ],
    ]
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
