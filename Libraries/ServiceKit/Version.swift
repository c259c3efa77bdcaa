/// The CosmicAC release every executable reports (`cosmicac version`, the `cosmicac_build_info`
/// metric). The one place it is written.
public enum CosmicACVersion {
  /// The version string, semantic versioning.
  public static let current = "0.1.0"
}
