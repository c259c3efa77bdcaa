// Placeholder until this service lands; replaced by its real main.
