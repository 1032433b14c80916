/// `certs/cacert.pem`: the one CA the link and the downloads trust (DESIGN.md §6).
package enum CAFile {
    /// Why the CA file at `path` cannot serve, in words ("NAME is missing"), or nil.
    package static func problem(_ path: String, named name: String? = nil) -> String? {
        let shown = name ?? path
        do {
            let bytes = try Files.read(path, limit: 1 << 20)
            return bytes.isEmpty ? "\(shown) is empty" : nil
        } catch {
            return error == .noSuchFile ? "\(shown) is missing" : "\(shown): \(error)"
        }
    }
}
