print("inference-test-engine: not built yet")
