import TinyBase

/// `tinyagent panelmap`: asks the backend which panel a device belongs to, by POSTing
/// `{"panel_id": "ID"}` to `BASE/api/panelmap` over http or https (the same client as
/// downloads, pinned to one CA for https).
public enum PanelMap {
    public static let path = "/api/panelmap"

    /// The endpoint for a `--url`: the backend's base URL gets `/api/panelmap` appended to
    /// its path (a trailing `/` is dropped first; a query is kept); a URL whose path already
    /// ends in `/api/panelmap` is used as it is.
    public static func endpoint(_ base: String) throws(HTTPError) -> HTTPURL {
        var url: HTTPURL
        do { url = try HTTPURL.parse(base) } catch { throw HTTPError(error) }
        var path = Array(url.path.utf8)
        if path.count >= Array(Self.path.utf8).count && path.suffix(Self.path.utf8.count).elementsEqual(Self.path.utf8) {
            return url
        }
        let query = url.target.utf8.dropFirst(path.count)
        while path.last == UInt8(ascii: "/") { path.removeLast() }
        url.target = String(decoding: path, as: UTF8.self) + Self.path + String(decoding: query, as: UTF8.self)
        return url
    }

    public static func body(panelID: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("panel_id"); w.string(panelID)
        w.endObject()
        return Array(w.text.utf8)
    }

    /// Runs the command: the response body goes to stdout (whatever the status); a non-2xx
    /// status prints its status line on stderr and exits 69, as does a connection or TLS
    /// failure (one line); a CA file that cannot be loaded exits 66, a bad URL 64.
    public static func run(url text: String, panelID: String, caFile: String) -> Int32 {
        let url: HTTPURL
        do { url = try endpoint(text) } catch {
            Console.error("panelmap: \(error.reason)")
            return ExitStatus.usage
        }
        var options = HTTPOptions(caFile: caFile)
        options.allowPlainHTTP = true
        options.idleTimeout = .seconds(30)
        let request = HTTPRequest(.post, url: url, headers: [HTTPHeader("Content-Type", "application/json")],
                                  body: body(panelID: panelID))
        do {
            let (head, body) = try HTTPClient.exchange(request, options: options, bodyLimit: 1 << 20)
            if !body.isEmpty {
                let fd = FileDescriptor(1)
                try? withBytes(of: body) { (raw) throws(Errno) in try fd.writeAll(raw) }
                if body.last != UInt8(ascii: "\n") { try? fd.writeAll("\n") }
            }
            guard (200..<300).contains(head.status) else {
                Console.error("panelmap: \(head.statusLine)")
                return ExitStatus.unavailable
            }
            return ExitStatus.ok
        } catch {
            Console.error("panelmap: \(url.text): \(error.reason)")
            if case .network(let failure) = error, failure.isCAFileProblem { return ExitStatus.noInput }
            return ExitStatus.unavailable
        }
    }
}
