/// Placeholder until the first real source of `Cluster` lands; delete it then.
enum ClusterPlaceholder {}
