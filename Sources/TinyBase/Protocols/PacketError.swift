/// Why a packet on a helper's channel was refused (`LinkEvent`, `LinkRequest`,
/// `WorkerReport`): one line.
package struct PacketError: Error, Equatable {
    package let reason: String
    package init(_ reason: String) { self.reason = reason }
}

extension JSONValue {
    /// An object whose members are all among `keys`.
    func onlyKeys(_ keys: [String]) throws(PacketError) {
        guard let members = objectValue else { throw PacketError("not a JSON object") }
        for (key, _) in members where !keys.contains(key) { throw PacketError("unknown member \"\(key)\"") }
    }

    package func string(_ key: String) throws(PacketError) -> String {
        guard let value = self[key]?.stringValue else { throw PacketError("no \"\(key)\" string") }
        return value
    }

    package func integer(_ key: String) throws(PacketError) -> Int64 {
        guard let value = self[key]?.integerValue else { throw PacketError("no \"\(key)\" integer") }
        return value
    }
}
