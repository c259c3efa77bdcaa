/// Placeholder until the first real source of `InferenceTesting` lands; delete it then.
enum InferenceTestingPlaceholder {}
