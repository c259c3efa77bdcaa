/// Placeholder until the first real source of `Kube` lands; delete it then.
enum KubePlaceholder {}
