/// A writer admitted to a base, with the role that decides which operations it may apply.
public struct AutobaseWriter: Sendable, Hashable {
  /// The writer's 32-byte public key.
  public var key: [UInt8]
  /// The role name (`app-node`, `wrk-ork`, …) the applier checks operations against.
  public var role: String

  /// A writer with a role.
  public init(key: [UInt8], role: String) {
    self.key = key
    self.role = role
  }
}

/// One atomic batch handed to `apply`, in linear order.
public struct AutobaseBatch: Sendable {
  /// The writer's key.
  public let writer: [UInt8]
  /// The writer's role at this point of the order.
  public let role: String
  /// Index of the batch's first node in the writer's log.
  public let start: UInt64
  /// The writer's log length after the batch.
  public let length: UInt64
  /// The node values, in log order.
  public let values: [[UInt8]]
  /// The batch's position in the linear order (0-based); views tag their undo records with it.
  public let position: Int
}

/// What `apply` may read and change about the base itself: its writer set.
public struct AutobaseContext: Sendable {
  /// Every current writer and its role.
  public private(set) var writers: [[UInt8]: String]
  var changes: [([UInt8], String?)] = []

  init(writers: [[UInt8]: String]) { self.writers = writers }

  /// The role of `key`, or nil when it is not a writer.
  public func role(of key: [UInt8]) -> String? { writers[key] }

  /// Admits `key` as a writer with `role` (or changes its role) from the next batch on.
  public mutating func addWriter(_ key: [UInt8], role: String) {
    changes.append((key, writers[key]))
    writers[key] = role
  }

  /// Removes `key` from the writers; its later batches are rejected.
  public mutating func removeWriter(_ key: [UInt8]) {
    changes.append((key, writers[key]))
    writers[key] = nil
  }
}

/// What became of one batch.
public enum ApplyOutcome: Sendable, Hashable {
  /// The batch changed the views.
  case applied
  /// The batch was refused (outside its writer's role, invalid, conflicting); nothing changed.
  case rejected(String)
}

/// A deterministic state machine fed batches in linear order, able to roll back to any earlier
/// position that is not yet final.
public protocol AutobaseApplier {
  /// Applies `batch`; must depend only on the current state and the batch. A `.rejected` outcome
  /// must leave the state unchanged (the linearizer also rolls back to `batch.position`).
  mutating func apply(_ batch: AutobaseBatch, context: inout AutobaseContext) -> ApplyOutcome
  /// Restores the state to just before the batch at `position` was applied.
  mutating func rollback(to position: Int)
  /// Positions before `position` are final: their undo information may be dropped.
  mutating func finalize(upTo position: Int)
}

/// An operation `apply` refused, recorded at its place in the order.
public struct AutobaseRejection: Sendable, Hashable {
  /// The writer's key.
  public let writer: [UInt8]
  /// The writer's log length after the refused batch.
  public let length: UInt64
  /// The batch's position in the linear order.
  public let position: Int
  /// Why it was refused.
  public let reason: String
}
