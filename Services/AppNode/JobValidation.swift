import CosmicCore

/// Checks of job creates and rack admissions, with one clear message per field.
enum JobValidation {
  private static func isWord(_ text: String, extra: String = "._-") -> Bool {
    text.unicodeScalars.allSatisfy {
      ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
        || extra.unicodeScalars.contains($0)
    }
  }

  private static func printable(_ text: String) -> Bool {
    text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7f }
  }

  /// The spec of a create request, or `invalid` listing every problem (`field: what is wrong`).
  static func spec(from request: CreateJobRequest) throws(AppError) -> JobSpec {
    var problems: [String] = []
    func need<T>(_ value: T?, _ field: String) -> T? {
      if value == nil { problems.append("\(field) is required") }
      return value
    }
    let name = need(request.name, "name") ?? ""
    if request.name != nil, name.isEmpty || name.count > 64 || !isWord(name) {
      problems.append("name must be 1 to 64 characters of letters, digits, '.', '_' or '-'")
    }
    let tags = need(request.tags, "tags") ?? []
    if request.tags != nil {
      if tags.isEmpty || tags.count > 20 { problems.append("tags must hold 1 to 20 tags") }
      for tag in tags where tag.isEmpty || tag.count > 64 || !isWord(tag, extra: "._-:=/") {
        problems.append("tags: \"\(tag.prefix(64))\" must be 1 to 64 characters of letters, digits or ._-:=/")
      }
    }
    let location = need(request.location, "location") ?? ""
    if request.location != nil, location.isEmpty || location.count > 32 || !isWord(location) {
      problems.append("location must be 1 to 32 characters of letters, digits, '.', '_' or '-' (e.g. us)")
    }
    var kind: JobKind?
    if let text = need(request.kind, "kind") {
      kind = JobKind(publicName: text)
      if kind == nil { problems.append("kind must be gpu-container or managed-inference") }
    }
    if let costLimit = request.costLimit, !(costLimit > 0 && costLimit.isFinite) {
      problems.append("costLimit must be a positive number")
    }
    let alerts = request.alerts ?? []
    if alerts.count > 10 { problems.append("alerts: at most 10") }
    for alert in alerts {
      if !(alert.url.hasPrefix("https://") || alert.url.hasPrefix("http://")) || alert.url.count > 2048
        || !printable(alert.url)
      {
        problems.append("alerts: url must be an http(s) URL of at most 2048 characters")
      }
      if (alert.costThresholds ?? []).contains(where: { !($0 > 0 && $0.isFinite) }) {
        problems.append("alerts: costThresholds must be positive numbers")
      }
    }
    let gpuModel = need(request.gpuModel, "gpuModel") ?? ""
    if request.gpuModel != nil, gpuModel.isEmpty || gpuModel.count > 64 || !isWord(gpuModel) {
      problems.append("gpuModel must be 1 to 64 characters of letters, digits, '.', '_' or '-'")
    }
    let gpuCount = need(request.gpuCount, "gpuCount") ?? 1
    if !(1...64).contains(gpuCount) { problems.append("gpuCount must be from 1 to 64") }
    let nodeCount = request.nodeCount ?? 1
    if !(1...64).contains(nodeCount) { problems.append("nodeCount must be from 1 to 64") }
    if let cuda = request.cuda, cuda.isEmpty || cuda.count > 64 || !printable(cuda) {
      problems.append("cuda must be 1 to 64 printable characters (e.g. CUDA 12.8)")
    }
    if let cpu = request.cpuPerGpu, !(1...256).contains(cpu) {
      problems.append("cpuPerGpu must be from 1 to 256")
    }
    if let memory = request.memoryGbPerGpu, !(1...4096).contains(memory) {
      problems.append("memoryGbPerGpu must be from 1 to 4096")
    }
    switch kind {
    case .gpuContainer:
      if let image = need(request.image, "image"),
        image.isEmpty || image.count > 200 || !isWord(image, extra: "._-/:@")
      {
        problems.append(
          "image must be 1 to 200 characters of letters, digits or ._-/:@ (e.g. Ubuntu22.04/CUDA12.8.1)")
      }
      if let disk = need(request.diskGb, "diskGb"), !(10...65_536).contains(disk) {
        problems.append("diskGb must be from 10 to 65536")
      }
      for (field, present) in [
        ("model", request.model != nil), ("serving", request.serving != nil),
        ("replicas", request.replicas != nil),
        ("endpoint", request.endpoint != nil),
      ] where present {
        problems.append("\(field) applies to managed-inference jobs only")
      }
    case .managedInference:
      if let model = need(request.model, "model") {
        let parts = model.split(separator: "/", omittingEmptySubsequences: false)
        if model.count > 200 || parts.count > 2
          || parts.contains(where: { $0.isEmpty || !isWord(String($0)) })
        {
          problems.append("model must be a Hugging Face id such as org/name")
        }
      }
      if let replicas = request.replicas, !(1...32).contains(replicas) {
        problems.append("replicas must be from 1 to 32")
      }
      if let serving = request.serving {
        if let length = serving.maxModelLength, !(1...1_048_576).contains(length) {
          problems.append("serving.maxModelLength must be from 1 to 1048576")
        }
        if let dtype = serving.dtype, !["auto", "bfloat16", "float16", "float32", "half"].contains(dtype) {
          problems.append("serving.dtype must be auto, bfloat16, float16, float32 or half")
        }
        if let fraction = serving.gpuMemoryUtilization, !(fraction > 0 && fraction <= 1) {
          problems.append("serving.gpuMemoryUtilization must be in (0, 1]")
        }
        let args = serving.extraArgs ?? []
        if args.count > 32 || args.contains(where: { $0.isEmpty || $0.count > 256 || !printable($0) }) {
          problems.append("serving.extraArgs: at most 32 arguments of 1 to 256 printable characters")
        }
      }
      if let endpoint = request.endpoint {
        if endpoint.name.isEmpty || endpoint.name.count > 64 || !isWord(endpoint.name) {
          problems.append("endpoint.name must be 1 to 64 characters of letters, digits, '.', '_' or '-'")
        }
        if let cap = endpoint.maxTokensCap, cap < 1 {
          problems.append("endpoint.maxTokensCap must be at least 1")
        }
        if let cap = endpoint.nCap, cap < 1 { problems.append("endpoint.nCap must be at least 1") }
      }
      for (field, present) in [("image", request.image != nil), ("diskGb", request.diskGb != nil)]
      where present {
        problems.append("\(field) applies to gpu-container jobs only")
      }
    case nil:
      break
    }
    guard problems.isEmpty, let kind else { throw .invalid(problems.joined(separator: "; ")) }
    let spec = JobSpec(
      name: name, tags: tags, location: location, kind: kind, gpuModel: gpuModel, gpuCount: gpuCount,
      nodeCount: nodeCount, costLimit: request.costLimit,
      alerts: alerts.map { AlertTarget(url: $0.url, costThresholds: $0.costThresholds ?? []) },
      cuda: request.cuda, cpuPerGpu: request.cpuPerGpu, memoryGbPerGpu: request.memoryGbPerGpu,
      image: kind == .gpuContainer ? request.image : nil,
      diskGb: kind == .gpuContainer ? request.diskGb : nil,
      model: kind == .managedInference ? request.model : nil,
      serving: request.serving.map {
        ServingConfig(
          maxModelLength: $0.maxModelLength, dtype: $0.dtype, gpuMemoryUtilization: $0.gpuMemoryUtilization,
          extraArgs: $0.extraArgs ?? [])
      },
      replicas: kind == .managedInference ? request.replicas ?? 1 : nil,
      endpoint: request.endpoint.map {
        EndpointOptions(
          name: $0.name, requireAuthorization: $0.requireAuthorization ?? true, maxTokensCap: $0.maxTokensCap,
          nCap: $0.nCap)
      })
    let remaining = spec.problems
    guard remaining.isEmpty else { throw .invalid(remaining.joined(separator: "; ")) }
    return spec
  }

  /// An `Idempotency-Key`: 1 to 128 characters of letters, digits, `.`, `_`, `:`, `-`.
  static func idempotencyKey(_ key: String) throws(AppError) {
    guard !key.isEmpty, key.count <= 128, isWord(key, extra: "._:-") else {
      throw .invalid("Idempotency-Key must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-'")
    }
  }

  /// The rack of an admission, or `invalid` listing every problem.
  static func rack(_ body: AdmitRackBody) throws(AppError) -> Rack {
    var problems: [String] = []
    if body.id.isEmpty || body.id.count > 64 || !isWord(body.id) {
      problems.append("id must be 1 to 64 characters of letters, digits, '.', '_' or '-'")
    }
    let key = body.workerKey.lowercased()
    if bytes(hex: key)?.count != 32 {
      problems.append("workerKey must be 64 hex characters (an Ed25519 public key)")
    }
    if body.location.isEmpty || body.location.count > 32 || !isWord(body.location) {
      problems.append("location must be 1 to 32 characters of letters, digits, '.', '_' or '-'")
    }
    let provider = body.provider ?? "kubernetes"
    if !["kubernetes", "local"].contains(provider) {
      problems.append("provider must be kubernetes or local")
    }
    if body.gpuModel.isEmpty || body.gpuModel.count > 64 || !isWord(body.gpuModel) {
      problems.append("gpuModel must be 1 to 64 characters of letters, digits, '.', '_' or '-'")
    }
    if !(1...4096).contains(body.gpuCount) { problems.append("gpuCount must be from 1 to 4096") }
    if !(body.pricePerGpuHour >= 0 && body.pricePerGpuHour.isFinite) {
      problems.append("pricePerGpuHour must be a number >= 0")
    }
    guard problems.isEmpty else { throw .invalid(problems.joined(separator: "; ")) }
    return Rack(
      id: body.id, workerKey: key, location: body.location, provider: provider, gpuModel: body.gpuModel,
      gpuCount: body.gpuCount, pricePerGpuHour: body.pricePerGpuHour)
  }
}
