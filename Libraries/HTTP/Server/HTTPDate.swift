import CSystem
import Glibc

/// The `Date` header value for the current second, recomputed only when the second changes.
/// One per event loop; used only on that loop's thread.
final class HTTPDateCache {
  private var second: Int = -1
  private(set) var value = ""

  private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
  private static let months = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
  ]

  /// Refreshes the cached value if the wall-clock second moved on.
  func refresh() {
    let now = Int(cs_realtime_ns() / 1_000_000_000)
    guard now != second else { return }
    second = now
    value = Self.format(now)
  }

  /// An IMF-fixdate (RFC 9110 §5.6.7) for `seconds` since the epoch.
  static func format(_ seconds: Int) -> String {
    var time = time_t(seconds)
    var parts = tm()
    gmtime_r(&time, &parts)
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return
      "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
      + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
  }
}
