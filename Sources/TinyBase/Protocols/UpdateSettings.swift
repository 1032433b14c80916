/// How software updates are fetched, unpacked and verified (DESIGN.md §6);
/// `cfg/agent.json` keys in parentheses.
public struct UpdateSettings: Equatable, Sendable {
    /// Until every listed process heartbeats its new version; a command's
    /// `timeout_s` overrides it (`update_timeout_s`).
    public var verifyTimeout = Duration.seconds(120)
    /// `download_max_bytes`
    public var downloadMaximumBytes: Int64 = 100 << 20
    /// `download_allow_http`: plain http:// URLs and redirects, for tests.
    public var allowPlainHTTP = false
    /// `download_connect_timeout_ms`
    public var connectTimeout = Duration.seconds(30)
    /// `download_idle_timeout_ms`: no byte for this long fails the download.
    public var idleTimeout = Duration.seconds(60)
    /// `reserve_free_bytes`: left free on the SD card after download and unpacking.
    public var reserveBytes: Int64 = 16 << 20
    /// `unpack_max_bytes`, `unpack_max_entries`, `unpack_max_ratio`: zip-bomb caps.
    public var unpackMaximumBytes: Int64 = 512 << 20
    public var unpackMaximumEntries = 10_000
    public var unpackMaximumRatio: Int64 = 100

    public init() {}
}
