// Placeholder until this benchmark lands.
