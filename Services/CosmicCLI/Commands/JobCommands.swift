import CosmicCore
import Foundation

/// `jobs create|list|get|stop|start|delete|events|wait`.
enum JobCommands {
  static let all: [Command] = [create, list, get, stop, start, delete, events, wait]

  static let waitOptions: [OptionSpec] = [
    .option("for", "PHASE", "the phase to wait for (default: running; stopped, deleted, …)"),
    .option("timeout", "DURATION", "give up after this long, exit status 4 (default: 10m; 90s, 5m, 1h)"),
    .option("interval", "DURATION", "how often to check (default: 1s)"),
  ]

  static let create = Command(
    spec: CommandSpec(
      path: "jobs create", summary: "Create a GPU Container or Managed Inference job.",
      options: [
        .option("file", "FILE", "read the job's fields from a JSON file (CreateJobRequest; flags override)"),
        .option("name", "NAME", "the job's name (required)"),
        .option("tag", "TAG", "a tag (required, one or more)", repeatable: true),
        .option("location", "LOCATION", "where it runs, e.g. us (required)"),
        .option(
          "kind", "KIND", "gpu-container or managed-inference (default: managed-inference with --model)"),
        .option("gpu-model", "MODEL", "GPU model, e.g. GH100_H100_SXM5_80GB (required)"),
        .option("gpu-count", "N", "GPUs per node (required)"),
        .option("nodes", "N", "nodes (default 1; more than 1 means InfiniBand)"),
        .option("cuda", "LINE", "driver/CUDA line, e.g. \"CUDA 12.8\""),
        .option("cpu-per-gpu", "N", "CPUs per GPU"),
        .option("memory-gb-per-gpu", "N", "memory (GB) per GPU"),
        .option("image", "IMAGE", "GPU container: base OS image, e.g. Ubuntu22.04/CUDA12.8.1"),
        .option("disk-gb", "N", "GPU container: disk size (GB)"),
        .option("cost-limit", "AMOUNT", "stop the job once it has cost this much (GPU-hours x price)"),
        .option("alert", "URL", "webhook for phase changes and cost thresholds", repeatable: true),
        .option("alert-threshold", "AMOUNT", "cost threshold that notifies every --alert", repeatable: true),
        .option("model", "HF_ID", "managed inference: Hugging Face model id"),
        .option("replicas", "N", "managed inference: replicas (default 1)"),
        .option("max-model-length", "TOKENS", "managed inference: maximum model length"),
        .option("dtype", "DTYPE", "managed inference: auto, bfloat16, float16 or float32"),
        .option("gpu-memory-utilization", "FRACTION", "managed inference: fraction of GPU memory, (0, 1]"),
        .option("engine-arg", "ARG", "managed inference: extra engine argument", repeatable: true),
        .option("endpoint-name", "NAME", "managed inference: the endpoint's name (default: the job's name)"),
        .flag("no-auth", "managed inference: the endpoint does not require an Authorization header"),
        .option("max-tokens-cap", "N", "managed inference: per-request cap on max_tokens"),
        .option("n-cap", "N", "managed inference: per-request cap on n"),
        .option(
          "idempotency-key", "KEY",
          "retry-safe key (default: random per invocation; retried with the same key on transport errors)"),
        .flag("wait", "wait until the job reaches --for (default running), with a progress line on stderr"),
      ] + waitOptions,
      details: """
        The fields are those of the job configuration reference (ARCHITECTURE.md §5). A create that
        fails on the way (connection lost, timeout) is retried up to 3 times with the same
        idempotency key, so it never makes two jobs.
        """,
      examples: [
        "cosmicac jobs create --name train --tag ml --location us --gpu-model GH100_H100_SXM5_80GB \\\n"
          + "    --gpu-count 8 --image Ubuntu22.04/CUDA12.8.1 --disk-gb 200 --cost-limit 500 --wait",
        "cosmicac jobs create --name llama --tag chat --location us --gpu-model GH100_H100_SXM5_80GB \\\n"
          + "    --gpu-count 1 --model meta-llama/Llama-3.1-8B-Instruct --replicas 2",
        "cosmicac jobs create --file job.json --idempotency-key nightly-2026-12-04",
      ]),
    run: runCreate)

  static let list = Command(
    spec: CommandSpec(
      path: "jobs list", summary: "List your jobs, newest first.",
      options: [
        .option("kind", "KIND", "only gpu-container or managed-inference jobs"),
        .option("phase", "PHASE", "only jobs in this phase"),
        .option("tag", "TAG", "only jobs with this tag"),
        .option("limit", "N", "at most N jobs per page"),
        .option("cursor", "CURSOR", "continue from a previous page"),
        .flag("all", "fetch every page"),
      ],
      examples: [
        "cosmicac jobs list", "cosmicac jobs list --phase running --tag ml",
        "cosmicac jobs list --all --output json",
      ]),
    run: runList)

  static let get = Command(
    spec: CommandSpec(
      path: "jobs get", summary: "Show a job: phase, desired state, agents, spec and recent events.",
      positionals: "JOB_ID", positionalCount: 1...1,
      examples: [
        "cosmicac jobs get job_0123456789abcdef", "cosmicac jobs get job_0123456789abcdef --output json",
      ]),
    run: runGet)

  static let stop = Command(
    spec: action("stop", "Stop a job: the workload shuts down, its disk is kept.", target: "stopped"),
    run: { arguments, context throws(CLIError) in
      try await runAction(.stopJob, arguments, context, target: .stopped)
    })

  static let start = Command(
    spec: action("start", "Start a stopped job again.", target: "running"),
    run: { arguments, context throws(CLIError) in
      try await runAction(.startJob, arguments, context, target: .running)
    })

  static let delete = Command(
    spec: action("delete", "Delete a job and everything allocated for it.", target: "deleted"),
    run: { arguments, context throws(CLIError) in
      try await runAction(.deleteJob, arguments, context, target: .deleted)
    })

  static let events = Command(
    spec: CommandSpec(
      path: "jobs events", summary: "Show a job's history: every transition with time, actor and reason.",
      positionals: "JOB_ID", positionalCount: 1...1,
      examples: ["cosmicac jobs events job_0123456789abcdef"]),
    run: runEvents)

  static let wait = Command(
    spec: CommandSpec(
      path: "jobs wait", summary: "Wait until a job reaches a phase (a progress line on stderr).",
      positionals: "JOB_ID", positionalCount: 1...1, options: waitOptions,
      details: """
        Exits 0 once the job is in the phase, 4 after --timeout, 2 when the phase can no longer be
        reached (the job was deleted, or its desired state changed away from it).
        """,
      examples: [
        "cosmicac jobs wait job_0123456789abcdef",
        "cosmicac jobs wait job_0123456789abcdef --for stopped --timeout 2m",
      ]),
    run: runWait)

  static func action(_ verb: String, _ summary: String, target: String) -> CommandSpec {
    CommandSpec(
      path: "jobs \(verb)", summary: summary, positionals: "JOB_ID", positionalCount: 1...1,
      options: [
        .flag("wait", "wait until the job is \(target) (progress line on stderr)"),
        .option("timeout", "DURATION", "with --wait: give up after this long, exit status 4 (default: 10m)"),
      ],
      examples: [
        "cosmicac jobs \(verb) job_0123456789abcdef", "cosmicac jobs \(verb) job_0123456789abcdef --wait",
      ])
  }

  // MARK: - create

  /// The request `jobs create` sends: `--file` first, then every flag given.
  static func createRequest(_ arguments: ParsedArguments, readFile: (String) throws(CLIError) -> [UInt8])
    throws(CLIError) -> CreateJobRequest
  {
    var request = CreateJobRequest()
    if let path = arguments.value("file") {
      let bytes = try readFile(path)
      do {
        request = try JSONDecoder().decode(CreateJobRequest.self, from: Data(bytes))
      } catch {
        throw .usage("\(path) is not a job spec (CreateJobRequest JSON): \(error)")
      }
    }
    if let name = arguments.value("name") { request.name = name }
    let tags = arguments.all("tag")
    if !tags.isEmpty { request.tags = tags }
    if let location = arguments.value("location") { request.location = location }
    if let kind = arguments.value("kind") {
      guard JobKind(publicName: kind) != nil else {
        throw .usage("--kind must be gpu-container or managed-inference, got \"\(kind)\"")
      }
      request.kind = kind
    }
    if let model = arguments.value("gpu-model") { request.gpuModel = model }
    if let count = try arguments.int("gpu-count", in: 1...1024) { request.gpuCount = count }
    if let nodes = try arguments.int("nodes", in: 1...1024) { request.nodeCount = nodes }
    if let cuda = arguments.value("cuda") { request.cuda = cuda }
    if let cpus = try arguments.int("cpu-per-gpu", in: 1...1024) { request.cpuPerGpu = cpus }
    if let memory = try arguments.int("memory-gb-per-gpu", in: 1...1_000_000) {
      request.memoryGbPerGpu = memory
    }
    if let image = arguments.value("image") { request.image = image }
    if let disk = try arguments.int("disk-gb", in: 1...1_000_000) { request.diskGb = disk }
    if let limit = try arguments.positiveDouble("cost-limit") { request.costLimit = limit }
    let alerts = arguments.all("alert")
    var thresholds: [Double] = []
    for text in arguments.all("alert-threshold") {
      guard let value = Double(text), value > 0, value.isFinite else {
        throw .usage("--alert-threshold must be a positive number, got \"\(text)\"")
      }
      thresholds.append(value)
    }
    if !thresholds.isEmpty, alerts.isEmpty, request.alerts == nil {
      throw .usage("--alert-threshold needs at least one --alert URL")
    }
    for url in alerts where !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
      throw .usage("--alert must be an http:// or https:// URL, got \"\(url)\"")
    }
    if !alerts.isEmpty {
      request.alerts = alerts.map { JobAlert(url: $0, costThresholds: thresholds.isEmpty ? nil : thresholds) }
    } else if !thresholds.isEmpty {
      request.alerts = request.alerts?.map { JobAlert(url: $0.url, costThresholds: thresholds) }
    }
    if let model = arguments.value("model") { request.model = model }
    if let replicas = try arguments.int("replicas", in: 1...1024) { request.replicas = replicas }
    var serving = request.serving ?? JobServing()
    var servingGiven = request.serving != nil
    if let length = try arguments.int("max-model-length", in: 1...10_000_000) {
      serving.maxModelLength = length
      servingGiven = true
    }
    if let dtype = arguments.value("dtype") {
      serving.dtype = dtype
      servingGiven = true
    }
    if let text = arguments.value("gpu-memory-utilization") {
      guard let fraction = Double(text), fraction > 0, fraction <= 1 else {
        throw .usage("--gpu-memory-utilization must be in (0, 1], got \"\(text)\"")
      }
      serving.gpuMemoryUtilization = fraction
      servingGiven = true
    }
    let engineArgs = arguments.all("engine-arg")
    if !engineArgs.isEmpty {
      serving.extraArgs = engineArgs
      servingGiven = true
    }
    if servingGiven { request.serving = serving }
    let endpointFlags =
      arguments.value("endpoint-name") != nil || arguments.has("no-auth")
      || arguments.value("max-tokens-cap") != nil || arguments.value("n-cap") != nil
    if endpointFlags {
      var endpoint =
        request.endpoint ?? JobEndpoint(name: arguments.value("endpoint-name") ?? request.name ?? "")
      if let name = arguments.value("endpoint-name") { endpoint.name = name }
      if arguments.has("no-auth") { endpoint.requireAuthorization = false }
      if let cap = try arguments.int("max-tokens-cap", in: 1...10_000_000) { endpoint.maxTokensCap = cap }
      if let cap = try arguments.int("n-cap", in: 1...1024) { endpoint.nCap = cap }
      request.endpoint = endpoint
    }
    if request.kind == nil {
      request.kind =
        request.model != nil ? JobKind.managedInference.publicName : JobKind.gpuContainer.publicName
    }
    return request
  }

  static func runCreate(_ arguments: ParsedArguments, _ context: CommandContext) async throws(CLIError)
    -> Int32
  {
    let request = try createRequest(arguments) { path throws(CLIError) in
      guard let data = FileManager.default.contents(atPath: path) else { throw .local("cannot read \(path)") }
      return Array(data)
    }
    let target = try waitTarget(arguments)
    let key = arguments.value("idempotency-key") ?? defaultIdempotencyKey()
    return try await context.withSession { session throws(CLIError) in
      let result = try await createWithRetries(
        request, key: key, io: context.io, api: { () throws(CLIError) in try await session.api() },
        reset: { await session.resetAPI() })
      if arguments.has("wait") {
        if context.output == .table { context.io.out("Created \(result.value.id) (\(result.value.name)).\n") }
        let final = try await waitFor(result.value.id, target: target, arguments, session: session)
        context.print(raw: final.raw, table: jobTable(final.value))
      } else {
        context.print(raw: result.raw, table: jobTable(result.value))
      }
      return ExitCode.success
    }
  }

  /// A random idempotency key for one invocation (`cli-` + 32 hex).
  static func defaultIdempotencyKey() -> String {
    var random = SystemRandomNumberGenerator()
    return "cli-" + hexString((0..<16).map { _ in UInt8.random(in: 0...255, using: &random) })
  }

  /// Sends the create, retrying up to `attempts` times with the same idempotency key when the
  /// transport failed (unreachable, timeout): app-node answers a retried create with the job the
  /// first attempt made, so a retry never makes two jobs. `reset` drops the broken connection.
  static func createWithRetries(
    _ request: CreateJobRequest, key: String, io: any CLIIO, attempts: Int = 3,
    pause: Duration = .milliseconds(500),
    api: () async throws(CLIError) -> any APIClient, reset: () async -> Void
  ) async throws(CLIError) -> (raw: [UInt8], value: JobDetail) {
    var attempt = 0
    while true {
      attempt += 1
      do throws(CLIError) {
        return try await api().callRaw(
          .createJob, params: ["idempotencyKey": key], body: request, as: JobDetail.self)
      } catch  where (error.code == .unreachable || error.code == .timeout) && attempt < attempts {
        io.err("cosmicac: \(error.message); retrying with the same idempotency key\n")
        await reset()
        try? await Task.sleep(for: pause * attempt)
      }
    }
  }

  // MARK: - list, get, events

  static func runList(_ arguments: ParsedArguments, _ context: CommandContext) async throws(CLIError) -> Int32
  {
    var params: [String: String] = [:]
    if let kind = arguments.value("kind") {
      guard JobKind(publicName: kind) != nil else {
        throw .usage("--kind must be gpu-container or managed-inference, got \"\(kind)\"")
      }
      params["type"] = kind
    }
    if let phase = arguments.value("phase") {
      guard JobPhase(rawValue: phase) != nil else {
        throw .usage("--phase must be one of \(JobPhase.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      params["phase"] = phase
    }
    if let tag = arguments.value("tag") { params["tag"] = tag }
    if let limit = try arguments.int("limit", in: 1...1000) { params["limit"] = String(limit) }
    if let cursor = arguments.value("cursor") { params["cursor"] = cursor }
    return try await context.withSession { session throws(CLIError) in
      let api = try await session.api()
      var page = try await api.callRaw(.listJobs, params: params, as: JobPage.self)
      var items = page.value.items
      while arguments.has("all"), let next = page.value.nextCursor {
        params["cursor"] = next
        page = try await api.callRaw(.listJobs, params: params, as: JobPage.self)
        items += page.value.items
      }
      if context.output == .json {
        if arguments.has("all") {
          context.io.out(Render.json(JobPage(items: items, nextCursor: nil)))
        } else {
          context.io.out(Render.json(page.raw))
        }
      } else {
        context.io.out(listTable(items))
        if !arguments.has("all"), let next = page.value.nextCursor {
          context.io.err("More jobs: cosmicac jobs list --cursor \(next) (or --all)\n")
        }
      }
      return ExitCode.success
    }
  }

  static func listTable(_ items: [JobSummary]) -> String {
    Render.table(
      ["ID", "NAME", "KIND", "PHASE", "DESIRED", "GPUS", "LOCATION", "CREATED", "MESSAGE"],
      items.map { job in
        [
          job.id, job.name, job.kind, job.phase, job.desired,
          "\(job.nodeCount)x\(job.gpuCount) \(job.gpuModel)",
          job.location, Render.time(job.createdAt), job.failureReason ?? job.message ?? "",
        ]
      }, empty: "No jobs.")
  }

  static func jobTable(_ job: JobDetail) -> String {
    var text = Render.fields([
      ("id", job.id), ("name", job.name), ("kind", job.kind), ("phase", job.phase), ("desired", job.desired),
      ("message", job.message), ("failure", job.failureReason),
      ("attempts", job.attempts > 0 ? String(job.attempts) : nil),
      ("tags", job.spec.tags?.joined(separator: ", ")), ("location", job.spec.location),
      ("gpus", "\(job.spec.nodeCount ?? 1) node(s) x \(job.spec.gpuCount ?? 0) \(job.spec.gpuModel ?? "")"),
      ("image", job.spec.image), ("disk", job.spec.diskGb.map { "\($0) GB" }), ("model", job.spec.model),
      ("replicas", job.spec.replicas.map(String.init)),
      ("endpoint", job.spec.endpoint?.name),
      ("cost limit", job.spec.costLimit.map { String($0) }),
      ("alerts", job.spec.alerts.map { $0.map(\.url).joined(separator: ", ") }),
      ("gpu hours", String(format: "%.3f", job.gpuSeconds / 3600)),
      ("created", Render.time(job.createdAt)),
    ])
    if !job.agents.isEmpty {
      text += "\nAgents:\n"
      text += Render.table(["NODE", "PUBLIC KEY"], job.agents.map { [String($0.node), $0.publicKey] })
    }
    if !job.events.isEmpty {
      text += "\nRecent events:\n"
      text += eventsTable(Array(job.events.suffix(5)))
    }
    return text
  }

  static func eventsTable(_ events: [JobEventBody]) -> String {
    Render.table(
      ["AT", "ACTOR", "EVENT", "PHASE", "REASON"],
      events.map { [Render.time($0.at), $0.actor, $0.event, $0.phase, $0.reason ?? ""] }, empty: "No events.")
  }

  static func runGet(_ arguments: ParsedArguments, _ context: CommandContext) async throws(CLIError) -> Int32
  {
    try await context.withSession { session throws(CLIError) in
      let job = try await session.api().callRaw(
        .getJob, params: ["id": arguments.positionals[0]], as: JobDetail.self)
      context.print(raw: job.raw, table: jobTable(job.value))
      return ExitCode.success
    }
  }

  static func runEvents(_ arguments: ParsedArguments, _ context: CommandContext) async throws(CLIError)
    -> Int32
  {
    try await context.withSession { session throws(CLIError) in
      let list = try await session.api().callRaw(
        .listJobEvents, params: ["id": arguments.positionals[0]], as: JobEventList.self)
      context.print(raw: list.raw, table: eventsTable(list.value.events))
      return ExitCode.success
    }
  }

  // MARK: - stop, start, delete

  static func runAction(
    _ operation: APIOperation, _ arguments: ParsedArguments, _ context: CommandContext, target: JobPhase
  ) async throws(CLIError) -> Int32 {
    let id = arguments.positionals[0]
    return try await context.withSession { session throws(CLIError) in
      let job = try await session.api().callRaw(operation, params: ["id": id], as: JobDetail.self)
      if arguments.has("wait") {
        var waitArguments = arguments
        waitArguments.values["for"] = [target.rawValue]
        let final = try await waitFor(id, target: target, waitArguments, session: session)
        context.print(raw: final.raw, table: "\(id): \(final.value.phase) (desired \(final.value.desired))\n")
      } else {
        context.print(raw: job.raw, table: "\(id): \(job.value.phase) (desired \(job.value.desired))\n")
      }
      return ExitCode.success
    }
  }

  // MARK: - wait

  static func waitTarget(_ arguments: ParsedArguments) throws(CLIError) -> JobPhase {
    let text = arguments.value("for") ?? "running"
    guard let phase = JobPhase(rawValue: text) else {
      throw .usage(
        "--for must be one of \(JobPhase.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
    }
    return phase
  }

  static func runWait(_ arguments: ParsedArguments, _ context: CommandContext) async throws(CLIError) -> Int32
  {
    let target = try waitTarget(arguments)
    _ = try waitSettings(arguments)
    return try await context.withSession { session throws(CLIError) in
      let final = try await waitFor(arguments.positionals[0], target: target, arguments, session: session)
      context.print(raw: final.raw, table: "\(final.value.id): \(final.value.phase)\n")
      return ExitCode.success
    }
  }

  static func waitSettings(_ arguments: ParsedArguments) throws(CLIError) -> (
    timeout: Duration, interval: Duration
  ) {
    let timeout = try arguments.value("timeout").map { text throws(CLIError) in
      try parseDuration(text, flag: "timeout")
    }
    let interval = try arguments.value("interval").map { text throws(CLIError) in
      try parseDuration(text, flag: "interval")
    }
    return (timeout ?? .seconds(600), interval ?? .seconds(1))
  }

  /// Whether a job can still reach `target`: nil while it can, else why not.
  static func unreachable(_ job: JobDetail, target: JobPhase) -> String? {
    if job.phase == JobPhase.deleted.rawValue, target != .deleted { return "the job was deleted" }
    switch target {
    case .running, .starting, .provisioning, .scheduling:
      if job.desired != DesiredState.running.rawValue { return "its desired state is \(job.desired)" }
    case .stopped, .stopping:
      if job.desired == DesiredState.deleted.rawValue { return "its desired state is deleted" }
    default:
      break
    }
    return nil
  }

  /// Polls the job until it is in `target`, printing a progress line on stderr; throws
  /// `.timeout` after `--timeout`, `.api` when the phase can no longer be reached. A job that
  /// disappears (404) while waiting for `deleted` counts as deleted.
  static func waitFor(_ id: String, target: JobPhase, _ arguments: ParsedArguments, session: CLISession)
    async throws(CLIError) -> (raw: [UInt8], value: JobDetail)
  {
    let (timeout, interval) = try waitSettings(arguments)
    let progress = ProgressLine(io: session.io)
    let clock = ContinuousClock()
    let started = clock.now
    var lastLine = ""
    var transportFailures = 0
    while true {
      guard started.duration(to: clock.now) < timeout || transportFailures == 0 else {
        progress.finish(nil)
        throw .timeout(
          "\(id) did not reach \(target.rawValue) within \(format(timeout)) (app-node unreachable)")
      }
      let current: (raw: [UInt8], value: JobDetail)
      do {
        current = try await session.api().callRaw(.getJob, params: ["id": id], as: JobDetail.self)
      } catch  where target == .deleted && error.apiCode == "not_found" {
        progress.finish("\(id): deleted")
        let gone = JobDetail(
          id: id, name: "", kind: "", phase: JobPhase.deleted.rawValue,
          desired: DesiredState.deleted.rawValue,
          message: nil, failureReason: nil, attempts: 0, createdAt: "", gpuSeconds: 0, agents: [],
          spec: CreateJobRequest(), events: [])
        return (Array("{\"id\":\"\(id)\",\"phase\":\"deleted\"}".utf8), gone)
      } catch  where (error.code == .unreachable || error.code == .timeout) && transportFailures < 5 {
        // A dropped connection during a long wait: reconnect and keep waiting.
        transportFailures += 1
        progress.update("\(error.message); reconnecting", changed: true)
        await session.resetAPI()
        try? await Task.sleep(for: min(interval * transportFailures, .seconds(5)))
        continue
      }
      transportFailures = 0
      let job = current.value
      let elapsed = started.duration(to: clock.now)
      if job.phase == target.rawValue {
        progress.finish("\(id): \(job.phase) after \(format(elapsed))")
        return current
      }
      if let reason = unreachable(job, target: target) {
        progress.finish("\(id): \(job.phase)")
        throw .api(
          status: nil, code: "unreachable_phase",
          message: "\(id) will not become \(target.rawValue): \(reason)")
      }
      var line = "waiting for \(id) to be \(target.rawValue): \(job.phase)"
      if let message = job.failureReason ?? job.message, !message.isEmpty { line += " — \(message)" }
      if line != lastLine || session.io.stderrIsTerminal {
        progress.update(line + " (\(format(elapsed)))", changed: line != lastLine)
        lastLine = line
      }
      guard elapsed < timeout else {
        progress.finish(nil)
        throw .timeout(
          "\(id) is still \(job.phase) after \(format(timeout)) (waiting for \(target.rawValue))")
      }
      do {
        try await Task.sleep(for: min(interval, timeout - elapsed))
      } catch {
        throw .timeout("cancelled while waiting for \(id)")
      }
    }
  }

  static func format(_ duration: Duration) -> String {
    let seconds = Int(duration.components.seconds)
    if seconds < 60 { return "\(seconds)s" }
    if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
    return "\(seconds / 3600)h\(seconds % 3600 / 60)m"
  }
}

/// Parses `500ms`, `90s`, `5m`, `1h` or a plain number of seconds.
func parseDuration(_ text: String, flag: String) throws(CLIError) -> Duration {
  let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
  for (suffix, scale) in units where text.hasSuffix(suffix) {
    if let value = Double(text.dropLast(suffix.count)), value >= 0, value.isFinite {
      return .milliseconds(Int64((value * scale * 1000).rounded()))
    }
  }
  if let value = Double(text), value >= 0, value.isFinite {
    return .milliseconds(Int64((value * 1000).rounded()))
  }
  let name = flag.hasPrefix("COSMICAC_") ? flag : "--" + flag
  throw .usage("\(name) must be a duration such as 500ms, 90s, 5m or 1h, got \"\(text)\"")
}

/// The progress line on stderr while waiting: redrawn in place on a terminal, one line per
/// change otherwise.
struct ProgressLine: Sendable {
  let io: any CLIIO

  func update(_ line: String, changed: Bool) {
    if io.stderrIsTerminal {
      io.err("\r\u{1B}[K" + line)
    } else if changed {
      io.err(line + "\n")
    }
  }

  func finish(_ line: String?) {
    if io.stderrIsTerminal {
      io.err("\r\u{1B}[K" + (line.map { $0 + "\n" } ?? ""))
    } else if let line {
      io.err(line + "\n")
    }
  }
}
