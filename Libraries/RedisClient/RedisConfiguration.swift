import Net

/// Where Redis is and how the client talks to it: plain data with defaults.
public struct RedisConfiguration: Sendable {
  /// The server's host name or address.
  public var host: String
  /// The server's port.
  public var port: Int
  /// The ACL user for `AUTH`, or nil for the default user.
  public var username: String?
  /// The password for `AUTH`, or nil to skip authentication.
  public var password: String?
  /// The database `SELECT`ed on every connection.
  public var database: Int
  /// How many connections the pool keeps (each carries many pipelined commands).
  public var poolSize: Int
  /// How long establishing a connection (TCP, AUTH, SELECT) may take.
  public var connectTimeout: Duration
  /// The default time a command waits for its reply.
  public var commandTimeout: Duration
  /// The delay before the first reconnect attempt after a failed one; it doubles per failure.
  public var reconnectBaseDelay: Duration
  /// The longest delay between reconnect attempts.
  public var reconnectMaxDelay: Duration
  /// The event loops that carry the connections.
  public var group: EventLoopGroup

  /// A configuration with defaults: 4 connections, 2 s timeouts, backoff from 50 ms up to 5 s.
  public init(
    host: String = "127.0.0.1", port: Int = 6379, username: String? = nil, password: String? = nil,
    database: Int = 0, poolSize: Int = 4, connectTimeout: Duration = .seconds(2),
    commandTimeout: Duration = .seconds(2), reconnectBaseDelay: Duration = .milliseconds(50),
    reconnectMaxDelay: Duration = .seconds(5), group: EventLoopGroup = .shared
  ) {
    self.host = host
    self.port = port
    self.username = username
    self.password = password
    self.database = database
    self.poolSize = max(1, poolSize)
    self.connectTimeout = connectTimeout
    self.commandTimeout = commandTimeout
    self.reconnectBaseDelay = reconnectBaseDelay
    self.reconnectMaxDelay = reconnectMaxDelay
    self.group = group
  }
}
