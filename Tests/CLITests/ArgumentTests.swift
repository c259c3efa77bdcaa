import CosmicCore
import Foundation
import Testing

@testable import CosmicCLI

@Suite struct ArgumentTests {
  static let spec = CommandSpec(
    path: "test cmd", summary: "A test command.", positionals: "ID", positionalCount: 1...1,
    options: [
      .option("name", "NAME", "a name"), .option("tag", "TAG", "a tag", repeatable: true),
      .flag("wait", "wait"), .option("count", "N", "a count"),
    ])

  @Test func valuesFlagsRepeatsAndPositionals() throws {
    let parsed = try ParsedArguments.parse(
      ["--name", "a", "--tag=x", "job_1", "--tag", "y", "--wait", "--output", "json"], spec: Self.spec)
    #expect(parsed.value("name") == "a")
    #expect(parsed.all("tag") == ["x", "y"])
    #expect(parsed.has("wait"))
    #expect(parsed.positionals == ["job_1"])
    #expect(parsed.value("output") == "json")
  }

  @Test func doubleDashEndsOptions() throws {
    let parsed = try ParsedArguments.parse(["--", "--name"], spec: Self.spec)
    #expect(parsed.positionals == ["--name"])
    #expect(parsed.value("name") == nil)
  }

  @Test(arguments: [
    (["job_1", "--bogus"], "unknown option --bogus"),
    (["job_1", "--name"], "--name needs a value"),
    (["job_1", "--name", "a", "--name", "b"], "--name given more than once"),
    (["job_1", "--wait=yes"], "--wait takes no value"),
    ([], "takes 1 argument(s)"),
    (["a", "b"], "takes 1 argument(s)"),
    (["job_1", "-x"], "unknown option -x"),
  ])
  func usageErrors(arguments: [String], message: String) {
    #expect {
      try ParsedArguments.parse(arguments, spec: Self.spec)
    } throws: { error in
      let error = error as! CLIError
      return error.code == .usage && error.message.contains(message) && error.exitCode == 1
    }
  }

  @Test func helpSkipsThePositionalCheck() throws {
    let parsed = try ParsedArguments.parse(["-h"], spec: Self.spec)
    #expect(parsed.has("help"))
  }

  @Test(arguments: [("5", 5), ("0", nil), ("x", nil), ("2000", nil)] as [(String, Int?)])
  func integersAreRangeChecked(text: String, expected: Int?) throws {
    let parsed = try ParsedArguments.parse(["j", "--count", text], spec: Self.spec)
    if let expected {
      #expect(try parsed.int("count", in: 1...1024) == expected)
    } else {
      #expect(throws: CLIError.self) { try parsed.int("count", in: 1...1024) }
    }
  }

  @Test(arguments: [
    ("90s", Duration.seconds(90)), ("5m", .seconds(300)), ("1h", .seconds(3600)),
    ("500ms", .milliseconds(500)),
    ("2", .seconds(2)), ("1.5s", .milliseconds(1500)),
  ])
  func durations(text: String, expected: Duration) throws {
    #expect(try parseDuration(text, flag: "timeout") == expected)
  }

  @Test(arguments: ["", "5x", "-1s", "soon"])
  func badDurations(text: String) {
    #expect(throws: CLIError.self) { try parseDuration(text, flag: "timeout") }
  }

  @Test func globalsAreTakenFromAnywhereBeforeDoubleDash() throws {
    let (globals, rest) = try CosmicCLI.extractGlobals(
      ["--output", "json", "jobs", "list", "--transport=http", "--tag", "x", "--", "--output", "z"])
    #expect(globals == ["output": "json", "transport": "http"])
    #expect(rest == ["jobs", "list", "--tag", "x", "--", "--output", "z"])
  }
}

@Suite struct JobCreateRequestTests {
  static func request(_ arguments: [String], file: String? = nil) throws -> CreateJobRequest {
    let parsed = try ParsedArguments.parse(arguments, spec: JobCommands.create.spec)
    return try JobCommands.createRequest(parsed) { path throws(CLIError) in
      guard let file else { throw .local("no file \(path)") }
      return Array(file.utf8)
    }
  }

  @Test func gpuContainerFlagsMapToTheRequest() throws {
    let request = try Self.request([
      "--name", "train", "--tag", "ml", "--tag", "nightly", "--location", "us", "--gpu-model",
      "GH100_H100_SXM5_80GB",
      "--gpu-count", "8", "--nodes", "2", "--image", "Ubuntu22.04/CUDA12.8.1", "--disk-gb", "200",
      "--cost-limit",
      "12.5", "--alert", "https://hooks.example/a", "--alert-threshold", "10", "--cuda", "CUDA 12.8",
      "--cpu-per-gpu", "4", "--memory-gb-per-gpu", "64",
    ])
    #expect(
      request
        == CreateJobRequest(
          name: "train", tags: ["ml", "nightly"], location: "us", kind: "gpu-container", costLimit: 12.5,
          alerts: [JobAlert(url: "https://hooks.example/a", costThresholds: [10])],
          gpuModel: "GH100_H100_SXM5_80GB",
          gpuCount: 8, nodeCount: 2, cuda: "CUDA 12.8", cpuPerGpu: 4, memoryGbPerGpu: 64,
          image: "Ubuntu22.04/CUDA12.8.1", diskGb: 200))
  }

  @Test func modelMeansManagedInferenceWithServingAndEndpoint() throws {
    let request = try Self.request([
      "--name", "chat", "--tag", "t", "--location", "us", "--gpu-model", "L40S", "--gpu-count", "1",
      "--model", "meta-llama/Llama-3.1-8B-Instruct", "--replicas", "2", "--dtype", "bfloat16",
      "--max-model-length", "8192", "--gpu-memory-utilization", "0.9", "--engine-arg", "--enforce-eager",
      "--no-auth", "--max-tokens-cap", "1024", "--n-cap", "2",
    ])
    #expect(request.kind == "managed-inference")
    #expect(request.model == "meta-llama/Llama-3.1-8B-Instruct")
    #expect(request.replicas == 2)
    #expect(
      request.serving
        == JobServing(
          maxModelLength: 8192, dtype: "bfloat16", gpuMemoryUtilization: 0.9, extraArgs: ["--enforce-eager"]))
    #expect(
      request.endpoint == JobEndpoint(name: "chat", requireAuthorization: false, maxTokensCap: 1024, nCap: 2))
  }

  @Test func flagsOverrideTheFile() throws {
    let file =
      #"{"name":"from-file","tags":["a"],"location":"eu","kind":"gpu-container","gpuModel":"X","gpuCount":1,"image":"img","diskGb":10}"#
    let request = try Self.request(
      ["--file", "job.json", "--location", "us", "--gpu-count", "4"], file: file)
    #expect(request.name == "from-file")
    #expect(request.location == "us")
    #expect(request.gpuCount == 4)
    #expect(request.diskGb == 10)
  }

  @Test(arguments: [
    (["--kind", "vm"], "--kind must be"),
    (["--gpu-count", "0"], "--gpu-count must be an integer"),
    (["--cost-limit", "-3"], "--cost-limit must be a positive number"),
    (["--alert", "ftp://x"], "--alert must be an http"),
    (["--alert-threshold", "5"], "--alert-threshold needs at least one --alert"),
    (["--gpu-memory-utilization", "1.5"], "--gpu-memory-utilization must be in (0, 1]"),
    (["--file", "missing.json"], "no file missing.json"),
  ])
  func badFlagsAreClearErrors(arguments: [String], message: String) {
    #expect {
      try Self.request(arguments)
    } throws: { error in
      (error as? CLIError)?.message.contains(message) ?? false
    }
  }

  @Test func aFileThatIsNotASpecIsAUsageError() {
    #expect {
      try Self.request(["--file", "job.json"], file: "[1,2]")
    } throws: { error in
      (error as? CLIError)?.code == .usage
        && (error as? CLIError)?.message.contains("job.json is not a job spec") == true
    }
  }
}
