/// Placeholder until the first real source of `KubeTesting` lands; delete it then.
enum KubeTestingPlaceholder {}
