// Placeholder until this target's first real source lands; delete it then.
