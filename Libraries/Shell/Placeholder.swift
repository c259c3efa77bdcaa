/// Placeholder until the first real source of `Shell` lands; delete it then.
enum ShellPlaceholder {}
