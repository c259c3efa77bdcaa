// Placeholder until this target lands.
