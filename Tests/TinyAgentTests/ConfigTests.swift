import Foundation
import Testing
@testable import TinyAgent
@testable import TinyWatchdog
@testable import TinyBase

/// Ciphertexts made once with
/// `printf '%s' TEXT | openssl enc -aes-256-cbc -K KEY -iv IV | xxd -p`.
private enum Vectors {
    /// The seed's key and IV, "01234567890123456789012345678901" / "0123456789012345".
    static let seed: [(plaintext: String, ciphertext: String)] = [
        ("", "fe70d794c7d7f339695d22a71db46edf"),
        ("a", "73760b961f53581cb8f2ca53ea423b51"),
        ("0123456789abcde", "a85ba2f9dd0cc5deec3b5d2c944045cb"),
        // Whole blocks: PKCS#7 adds a full block of 0x10.
        ("0123456789abcdef", "830cf32c97f5122b9696f9760893ed9be3d599c12e4f3d931bb8f9df475d1881"),
        ("0123456789abcdef0123456789abcdef",
         "830cf32c97f5122b9696f9760893ed9b95568d68927bd412854ba5c73e5e5f34beb1c12170a96b4f0916bb0c0257daaa"),
        (sampleJSON,
         "2beb3b0d1140ce407e2b38a5b2a0ced274eb35cce038285307b1535db1a48cbfe0db7c847e2a4113af94de05d09e483b"
            + "1f4742bc8a33df30bccbf77777b23c18ef8c922ac05612f8427b34d5168077d609ca581ffd37dfad3eaa3e7bc92b7e"
            + "da17d1abc0fcc33172ecf828aff274f26f4959b901fa7125b30b23b174eb75772210ce8d99493b778e897083d98d1bb99a"),
    ]
    /// KEY 000102…1f, IV f0f1…ff.
    static let customKeyFile = """
        key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
        iv=f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff
        """
    static let custom: [(plaintext: String, ciphertext: String)] = [
        ("hello", "de2be6aa8e9a26956a342f4f834792ab"),
        ("hello, tinyagent", "8713eaca59ac9740ec9b678d52ae1857c8f3c76e365956465916f0d4ac75a1df"),
    ]
    static let sampleJSON = #"{"xmpp_client":{"client_jid":"rpi@example.com","client_password":"s3cret","cpanel_jid":"panel@example.com","rpi_unique_id":"mac-address"}}"#
}

private func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var i = text.startIndex
    while i < text.endIndex {
        let j = text.index(i, offsetBy: 2)
        bytes.append(UInt8(text[i..<j], radix: 16)!)
        i = j
    }
    return bytes
}

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite struct ConfigCipherTests {
    @Test func encryptionMatchesOpenSSLWithTheSeedKey() {
        for (plaintext, ciphertext) in Vectors.seed {
            #expect(ConfigCipher.encrypt(bytes(plaintext), key: .seed) == hex(ciphertext), "\(plaintext)")
        }
    }

    @Test func decryptionReadsWhatOpenSSLWrote() throws {
        for (plaintext, ciphertext) in Vectors.seed {
            #expect(try ConfigCipher.decrypt(hex(ciphertext), key: .seed) == bytes(plaintext), "\(plaintext)")
        }
    }

    @Test func aKeyFromAKeyFileMatchesOpenSSLToo() throws {
        let key = try ConfigKey.parse(bytes(Vectors.customKeyFile))
        for (plaintext, ciphertext) in Vectors.custom {
            #expect(ConfigCipher.encrypt(bytes(plaintext), key: key) == hex(ciphertext))
            #expect(try ConfigCipher.decrypt(hex(ciphertext), key: key) == bytes(plaintext))
        }
    }

    @Test func plaintextOfWholeBlocksGetsAFullPaddingBlock() {
        for count in [0, 16, 32, 48] {
            let ciphertext = ConfigCipher.encrypt([UInt8](repeating: 0x41, count: count), key: .seed)
            #expect(ciphertext.count == count + 16)
            #expect(Array(ConfigCipher.cbc(ciphertext, key: .seed, encrypting: false).suffix(16)) == [UInt8](repeating: 16, count: 16))
        }
        #expect(ConfigCipher.encrypt([UInt8](repeating: 0x41, count: 17), key: .seed).count == 32)
    }

    @Test(arguments: [
        [UInt8](repeating: 0x41, count: 15) + [0x00],  // pad length 0
        [UInt8](repeating: 0x41, count: 15) + [0x11],  // pad length 17 > block size
        [UInt8](repeating: 0x41, count: 13) + [0x03, 0x02, 0x03],  // a pad byte disagrees
        [UInt8](repeating: 0x41, count: 14) + [0x41, 0x02],
        [UInt8](repeating: 0x41, count: 16),  // no padding at all
    ])
    func badPaddingIsRefused(_ lastBlock: [UInt8]) {
        // Raw CBC without padding, so the decrypted last block is exactly this.
        let ciphertext = ConfigCipher.cbc(lastBlock, key: .seed, encrypting: true)
        #expect(throws: ConfigError.badPadding) { try ConfigCipher.decrypt(ciphertext, key: .seed) }
    }

    @Test func aFullBlockOfSixteensDecryptsToNothing() throws {
        let ciphertext = ConfigCipher.cbc([UInt8](repeating: 16, count: 16), key: .seed, encrypting: true)
        #expect(try ConfigCipher.decrypt(ciphertext, key: .seed) == [])
    }

    @Test func aWrongKeyIsReportedAsBadPadding() throws {
        let other = try ConfigKey.parse(bytes(Vectors.customKeyFile))
        for (_, ciphertext) in Vectors.seed {
            #expect(throws: ConfigError.badPadding) { try ConfigCipher.decrypt(hex(ciphertext), key: other) }
        }
    }

    @Test func aDamagedLastBlockIsReportedAsBadPadding() {
        var ciphertext = hex(Vectors.seed[5].ciphertext)
        ciphertext[ciphertext.count - 1] ^= 0x01
        #expect(throws: ConfigError.badPadding) { try ConfigCipher.decrypt(ciphertext, key: .seed) }
    }

    @Test func ciphertextThatIsNotWholeBlocksIsTruncated() {
        let whole = hex(Vectors.seed[5].ciphertext)
        #expect(throws: ConfigError.notWholeBlocks(count: 0)) { try ConfigCipher.decrypt([], key: .seed) }
        #expect(throws: ConfigError.notWholeBlocks(count: 17)) { try ConfigCipher.decrypt(Array(whole.prefix(17)), key: .seed) }
        #expect(throws: ConfigError.notWholeBlocks(count: whole.count - 1)) {
            try ConfigCipher.decrypt(Array(whole.dropLast()), key: .seed)
        }
    }

    @Test func aCiphertextCutAtABlockBoundaryFailsThePaddingCheck() {
        let whole = hex(Vectors.seed[5].ciphertext)
        #expect(throws: ConfigError.badPadding) { try ConfigCipher.decrypt(Array(whole.prefix(64)), key: .seed) }
    }
}

@Suite struct ConfigKeyTests {
    @Test func theSeedKeyIsTheSeedsASCII() {
        #expect(ConfigKey.seed.key == bytes("01234567890123456789012345678901"))
        #expect(ConfigKey.seed.iv == bytes("0123456789012345"))
    }

    @Test func whatOpenSSLPrintsWithDashPIsAKeyFile() throws {
        // `openssl enc -aes-256-cbc -P -pbkdf2 -k secret`: uppercase, "iv =", a salt line.
        let text = """
            salt=41746619033C6A43
            key=91A29959AD40356A399EF9FFC6BF8A718115CF6F9781B90E25C8DB9008F44696
            iv =C9C2F71B1B8ADC2398CC1ED2C8D6ECE7

            """
        let key = try ConfigKey.parse(bytes(text))
        #expect(key.key == hex("91a29959ad40356a399ef9ffc6bf8a718115cf6f9781b90e25c8db9008f44696"))
        #expect(key.iv == hex("c9c2f71b1b8adc2398cc1ed2c8d6ece7"))
    }

    @Test func commentsBlankLinesAndCRLFAreAllowed() throws {
        let text = "# made for rpi-17\r\n\r\n  key = \(String(repeating: "ab", count: 32))\r\niv=\(String(repeating: "cd", count: 16))\r\n"
        let key = try ConfigKey.parse(bytes(text))
        #expect(key.key == [UInt8](repeating: 0xAB, count: 32) && key.iv == [UInt8](repeating: 0xCD, count: 16))
    }

    @Test(arguments: [
        ("iv=\(String(repeating: "00", count: 16))", ConfigError.badKeyFile(line: 0, why: "no key= line")),
        ("key=\(String(repeating: "00", count: 32))", .badKeyFile(line: 0, why: "no iv= line")),
        ("key=\(String(repeating: "00", count: 31))\niv=\(String(repeating: "00", count: 16))",
         .badKeyFile(line: 1, why: "key must be 64 hex digits")),
        ("key=\(String(repeating: "0g", count: 32))\niv=\(String(repeating: "00", count: 16))",
         .badKeyFile(line: 1, why: "key must be 64 hex digits")),
        ("key=\(String(repeating: "00", count: 32))\niv=\(String(repeating: "00", count: 17))",
         .badKeyFile(line: 2, why: "iv must be 32 hex digits")),
        ("key=\(String(repeating: "00", count: 32))\nkey=\(String(repeating: "00", count: 32))",
         .badKeyFile(line: 2, why: "key given twice")),
        ("\(String(repeating: "00", count: 32))\n", .badKeyFile(line: 1, why: "expected key=<64 hex digits> or iv=<32 hex digits>")),
        ("password=hunter2", .badKeyFile(line: 1, why: "expected key=<64 hex digits> or iv=<32 hex digits>")),
    ])
    func malformedKeyFilesAreRefusedByLine(_ text: String, _ expected: ConfigError) {
        #expect(throws: expected) { try ConfigKey.parse(bytes(text)) }
    }
}

@Suite struct DeviceConfigTests {
    static func json(_ members: [String: String], dropping: String? = nil) -> String {
        var all = [
            "client_jid": #""rpi-17@xmpp.example.com""#, "client_password": #""s3cret""#,
            "cpanel_jid": #""panel@xmpp.example.com""#, "rpi_unique_id": #""rpi-17""#,
        ]
        for (k, v) in members { all[k] = v }
        if let dropping { all[dropping] = nil }
        let body = all.keys.sorted().map { "\"\($0)\": \(all[$0]!)" }.joined(separator: ", ")
        return "{\"xmpp_client\": {\(body)}}"
    }

    func parse(_ text: String) throws(ConfigError) -> DeviceConfig { try DeviceConfig.parse(bytes(text)) }

    @Test func theSeedsFourMembersAreEnough() throws {
        let c = try parse(Self.json([:]))
        #expect(c == DeviceConfig(clientJID: "rpi-17@xmpp.example.com", password: "s3cret", panelJID: "panel@xmpp.example.com",
                                  deviceID: "rpi-17", deviceIDIsMACAddress: false, host: nil, port: nil, tlsRequired: true))
    }

    @Test func hostPortAndTLSAreRead() throws {
        let c = try parse(Self.json(["host": #""127.0.0.1""#, "port": "15222", "tls": #""disabled""#]))
        #expect(c.host == "127.0.0.1" && c.port == 15222 && !c.tlsRequired)
        #expect(try parse(Self.json(["tls": #""required""#, "host": #""xmpp.example.com""#])).tlsRequired)
        #expect(try parse(Self.json(["host": #""::1""#])).host == "::1")
        #expect(try parse(Self.json(["host": "null", "port": "null"])).host == nil)
    }

    @Test(arguments: ["client_jid", "client_password", "cpanel_jid", "rpi_unique_id"])
    func everyRequiredMemberIsRequired(_ field: String) {
        #expect(throws: ConfigError.missing("xmpp_client.\(field)")) { try parse(Self.json([:], dropping: field)) }
    }

    @Test func theXMPPClientObjectIsRequired() {
        #expect(throws: ConfigError.missing("xmpp_client")) { try parse(#"{"xmpp": {}}"#) }
        #expect(throws: ConfigError.wrongType("xmpp_client", expected: "an object")) { try parse(#"{"xmpp_client": []}"#) }
        #expect(throws: ConfigError.wrongType("the config", expected: "a JSON object")) { try parse("[]") }
        #expect(throws: ConfigError.notJSON(.unexpectedEnd)) { try parse(#"{"xmpp_client": "#) }
    }

    @Test func otherTopLevelMembersAreIgnoredButUnknownClientMembersAreNot() throws {
        let text = Self.json([:]).replacingOccurrences(of: "{\"xmpp_client\"", with: "{\"logging\": {\"level\": 3}, \"xmpp_client\"")
        #expect(try parse(text).clientJID == "rpi-17@xmpp.example.com")
        #expect(throws: ConfigError.unknownKey("xmpp_client.prot")) { try parse(Self.json(["prot": "5222"])) }
    }

    @Test(arguments: ["client_jid", "client_password", "cpanel_jid", "rpi_unique_id", "host", "tls"])
    func stringMembersMustBeStrings(_ field: String) {
        #expect(throws: ConfigError.wrongType("xmpp_client.\(field)", expected: "a string")) { try parse(Self.json([field: "42"])) }
    }

    @Test(arguments: [
        "rpi17", "@example.com", "rpi@", "rpi@example.com/", "rpi 17@example.com", "rpi@exa mple.com",
        "rpi@example..com", "rpi@.example.com", "rpi@example.com.", "rpi@-example.com", "rpi@exam_ple.com",
        "rpi@example.com/res\tource", "r<p>i@example.com", "rpi:1@example.com", "rpi@ex@ample.com", "rpi@[::1",
        "rpi@[zz::1]", "rpi@\u{7F}example.com", "rpi\n@example.com",
        String(repeating: "a", count: 256) + "@example.com",
        "rpi@" + String(repeating: "a", count: 64) + ".com",
        "rpi@" + String(repeating: "abcdefghi.", count: 26) + "com",
        "rpi@example.com/" + String(repeating: "r", count: 256),
    ])
    func illFormedJIDsAreRefused(_ jid: String) throws {
        for field in ["client_jid", "cpanel_jid"] {
            do {
                _ = try parse(Self.json([field: "\"\(jid.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t"))\""]))
                Issue.record("\(field) \(jid) was accepted")
            } catch {
                guard case .badValue(let f, _) = error else { Issue.record("\(error)"); continue }
                #expect(f == "xmpp_client.\(field)")
                #expect(!error.reason.contains(jid), "the reason does not quote the value")
            }
        }
    }

    @Test(arguments: [
        "rpi@example.com", "rpi-17@xmpp.example.com/agent", "Rpi.17_x@EXAMPLE.com", "rpi@localhost", "rpi@127.0.0.1",
        "rpi@[::1]", "rpi@example.com/a/b@c", "pi@example.com/" + String(repeating: "r", count: 255), "пи@example.com",
        String(repeating: "a", count: 255) + "@example.com",
    ])
    func wellFormedJIDsAreAccepted(_ jid: String) throws {
        #expect(try parse(Self.json(["client_jid": "\"\(jid)\""])).clientJID == jid)
        #expect(JID(jid) != nil)
    }

    @Test func aJIDSplitsIntoItsParts() throws {
        let jid = try #require(JID("panel@example.com/desk/1"))
        #expect(jid.local == "panel" && jid.domain == "example.com" && jid.resource == "desk/1" && jid.bare == "panel@example.com")
        #expect(JID("panel@example.com")?.resource == nil)
    }

    @Test(arguments: ["0", "65536", "-1", "100000"])
    func portsOutsideTheRangeAreRefused(_ port: String) {
        #expect(throws: ConfigError.badValue("xmpp_client.port", why: "must be 1...65535")) { try parse(Self.json(["port": port])) }
    }

    @Test(arguments: [#""5222""#, "5222.0", "true"])
    func portsMustBeIntegers(_ port: String) {
        #expect(throws: ConfigError.wrongType("xmpp_client.port", expected: "an integer 1...65535")) { try parse(Self.json(["port": port])) }
    }

    @Test func portsAtTheEndsOfTheRangeAreAccepted() throws {
        #expect(try parse(Self.json(["port": "1"])).port == 1)
        #expect(try parse(Self.json(["port": "65535"])).port == 65535)
    }

    @Test func tlsIsRequiredOrDisabled() {
        #expect(throws: ConfigError.badValue("xmpp_client.tls", why: "must be \"required\" or \"disabled\"")) {
            try parse(Self.json(["tls": #""optional""#]))
        }
    }

    @Test(arguments: [#""xmpp.example.com""#, #""10.0.0.1""#, #""127.0.0.1.example.com""#, #""128.0.0.1""#, #""::2""#, #""127.0.0.256""#])
    func tlsDisabledIsRefusedForAServerOffLoopback(_ host: String) {
        #expect(throws: ConfigError.self) { try parse(Self.json(["host": host, "tls": #""disabled""#])) }
        // Without a host the JID's domain is the server.
        #expect(throws: ConfigError.self) { try parse(Self.json(["tls": #""disabled""#])) }
    }

    @Test func tlsDisabledNeedsEveryServerOfTheListOnLoopback() throws {
        #expect(throws: ConfigError.self) {
            try parse(Self.json(["servers": #"["127.0.0.1:5222", "10.0.0.6"]"#, "tls": #""disabled""#]))
        }
        #expect(try !parse(Self.json(["servers": #"["127.0.0.1:5222", "localhost:5223"]"#, "tls": #""disabled""#])).tlsRequired)
    }

    @Test(arguments: [#""localhost""#, #""LocalHost""#, #""127.0.0.1""#, #""127.1.2.3""#, #""::1""#, #""[::1]""#])
    func tlsDisabledIsAcceptedForALoopbackServer(_ host: String) throws {
        #expect(try !parse(Self.json(["host": host, "tls": #""disabled""#])).tlsRequired)
    }

    @Test(arguments: [#""""#, #""xmpp example.com""#, #""xmpp_example.com""#, #""host:name""#])
    func badHostsAreRefused(_ host: String) {
        #expect(throws: ConfigError.self) { try parse(Self.json(["host": host])) }
    }

    @Test func thePasswordIsNonEmptyBoundedAndNULFree() {
        let field = "xmpp_client.client_password"
        #expect(throws: ConfigError.badValue(field, why: "empty")) { try parse(Self.json(["client_password": #""""#])) }
        #expect(throws: ConfigError.badValue(field, why: "holds a NUL character")) { try parse(Self.json(["client_password": #""a\u0000b""#])) }
        #expect(throws: ConfigError.badValue(field, why: "longer than 1024 bytes")) {
            try parse(Self.json(["client_password": "\"\(String(repeating: "p", count: 1025))\""]))
        }
    }

    @Test func macAddressOrEmptyMeansTheMACAddress() throws {
        for id in [#""mac-address""#, #""""#] {
            let c = try parse(Self.json(["rpi_unique_id": id]))
            #expect(c.deviceIDIsMACAddress && c.deviceID == "mac-address")
        }
    }

    @Test func aDeviceIDWithControlCharactersIsRefused() {
        #expect(throws: ConfigError.self) { try parse(Self.json(["rpi_unique_id": #""rpi\n17""#])) }
        #expect(throws: ConfigError.self) { try parse(Self.json(["rpi_unique_id": "\"\(String(repeating: "r", count: 256))\""])) }
    }
}

/// A fake `/sys/class/net` and `/proc/net/dev` in a temporary folder.
@Suite final class MACAddressTests {
    let folder = NSTemporaryDirectory() + "tinyagent-net-\(UUID().uuidString)"
    var interfaces: NetworkInterfaces { NetworkInterfaces(sysClassNet: "\(folder)/sys/class/net", procNetDev: "\(folder)/proc/net/dev") }

    init() throws {
        try FileManager.default.createDirectory(atPath: "\(folder)/sys/class/net", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(folder)/proc/net", withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    /// Interfaces as (name, address, physical), listed in /proc/net/dev in this order.
    func make(_ list: [(String, String, Bool)]) throws {
        var dev = "Inter-|   Receive                            |  Transmit\n face |bytes    packets errs drop fifo frame|bytes\n"
        for (name, address, physical) in list {
            let base = "\(folder)/sys/class/net/\(name)"
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
            try (address + "\n").write(toFile: "\(base)/address", atomically: false, encoding: .utf8)
            if physical {
                // sysfs has a symlink to the bus device; a link to a folder stands in for it.
                try FileManager.default.createDirectory(atPath: "\(folder)/devices/\(name)", withIntermediateDirectories: true)
                try FileManager.default.createSymbolicLink(atPath: "\(base)/device", withDestinationPath: "\(folder)/devices/\(name)")
            }
            dev += String(repeating: " ", count: max(0, 6 - name.count)) + "\(name):  1234  5 0 0 0 0 0 0  1234 5 0 0 0 0 0 0\n"
        }
        try dev.write(toFile: "\(folder)/proc/net/dev", atomically: false, encoding: .utf8)
    }

    @Test func eth0ComesBeforeWlan0WhereverItIsListed() throws {
        try make([("lo", "00:00:00:00:00:00", false), ("wlan0", "b8:27:eb:00:00:02", true), ("eth0", "b8:27:eb:00:00:01", true)])
        #expect(try MACAddress.resolve(interfaces) == ("eth0", "b8:27:eb:00:00:01"))
    }

    @Test func wlan0ComesBeforeOtherPhysicalInterfaces() throws {
        try make([("enx001", "00:11:22:33:44:55", true), ("wlan0", "b8:27:eb:00:00:02", true)])
        #expect(try MACAddress.resolve(interfaces) == ("wlan0", "b8:27:eb:00:00:02"))
    }

    @Test func theOthersAreTakenInNameOrder() throws {
        try make([("usb0", "00:00:00:00:00:03", true), ("end0", "00:00:00:00:00:02", true), ("enp1s0", "00:00:00:00:00:01", true)])
        #expect(try MACAddress.resolve(interfaces) == ("end0", "00:00:00:00:00:02"))
    }

    @Test func virtualInterfacesWithoutADeviceAreSkipped() throws {
        try make([("eth0", "02:42:ac:11:00:02", false), ("docker0", "02:42:00:00:00:01", false), ("wlan1", "dc:a6:32:00:00:09", true)])
        #expect(try MACAddress.resolve(interfaces) == ("wlan1", "dc:a6:32:00:00:09"))
    }

    @Test func uppercaseIsNormalised() throws {
        try make([("eth0", "B8:27:EB:AB:CD:EF", true)])
        #expect(try MACAddress.resolve(interfaces).address == "b8:27:eb:ab:cd:ef")
    }

    @Test func malformedAndAllZeroAddressesAreSkipped() throws {
        try make([("eth0", "00:00:00:00:00:00", true), ("eth1", "b8:27:eb:ab:cd", true), ("eth2", "b8-27-eb-ab-cd-ef", true),
                  ("eth3", "b8:27:eb:ab:cd:e0", true)])
        #expect(try MACAddress.resolve(interfaces) == ("eth3", "b8:27:eb:ab:cd:e0"))
    }

    @Test func noPhysicalInterfaceIsAnError() throws {
        try make([("lo", "00:00:00:00:00:00", false), ("eth0", "02:42:ac:11:00:02", false)])
        #expect(throws: ConfigError.noMACAddress("no physical network interface with one was found")) {
            try MACAddress.resolve(interfaces)
        }
    }
}

/// The file on disk, `DeviceConfig.load` and the CLI's side.
@Suite final class ConfigFileTests {
    let folder = NSTemporaryDirectory() + "tinyagent-config-\(UUID().uuidString)"
    var root: String { "\(folder)/root" }
    var configPath: String { "\(root)/cfg/config_file.bin" }
    let net: NetworkInterfaces

    init() throws {
        try FileManager.default.createDirectory(atPath: "\(folder)/root/cfg", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(folder)/sys/eth0/device", withIntermediateDirectories: true)
        try "B8:27:EB:12:34:56\n".write(toFile: "\(folder)/sys/eth0/address", atomically: false, encoding: .utf8)
        try "h1\nh2\n  eth0: 0 0\n".write(toFile: "\(folder)/dev", atomically: false, encoding: .utf8)
        net = NetworkInterfaces(sysClassNet: "\(folder)/sys", procNetDev: "\(folder)/dev")
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    func writePlain(_ text: String, to name: String = "plain.json") throws -> String {
        let path = "\(folder)/\(name)"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    @Test func loadDecryptsValidatesAndResolvesTheMACAddress() throws {
        try Data(hex(Vectors.seed[5].ciphertext)).write(to: URL(fileURLWithPath: configPath))
        let c = try DeviceConfig.load(root: root, interfaces: net)
        #expect(c.clientJID == "rpi@example.com" && c.password == "s3cret" && c.panelJID == "panel@example.com")
        #expect(c.deviceID == "b8:27:eb:12:34:56" && c.deviceIDIsMACAddress)
    }

    /// `Vectors.custom[0]` ("hello") as the encrypted config, and the fleet key that makes it.
    func writeFleetKey(mode: Int) throws -> String {
        let path = ConfigKey.fleetFile(root: root)
        _ = FileManager.default.createFile(atPath: path, contents: Data(Vectors.customKeyFile.utf8),
                                           attributes: [.posixPermissions: mode])
        return path
    }

    @Test func theFleetKeyInCfgIsUsedWhenNoKeyFileIsNamed() throws {
        _ = try writeFleetKey(mode: 0o600)
        let key = try ConfigKey.forConfig(root: root, keyFile: nil)
        #expect(key.key == hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"))
        #expect(try ConfigCipher.decrypt(hex(Vectors.custom[0].ciphertext), key: key) == bytes("hello"))
    }

    @Test func withoutAFleetKeyTheSeedsKeyIsUsed() throws {
        #expect(try ConfigKey.forConfig(root: root, keyFile: nil).key == ConfigKey.seed.key)
    }

    @Test func aKeyFileNamedOnTheCommandLineWinsOverTheFleetKey() throws {
        _ = try writeFleetKey(mode: 0o600)
        let named = try writePlain("key=\(String(repeating: "ab", count: 32))\niv=\(String(repeating: "cd", count: 16))\n", to: "named.key")
        #expect(try ConfigKey.forConfig(root: root, keyFile: named).key == [UInt8](repeating: 0xAB, count: 32))
    }

    @Test func aFleetKeyOthersCanReadIsRefusedNotSkipped() throws {
        let path = try writeFleetKey(mode: 0o640)
        do {
            _ = try ConfigKey.forConfig(root: root, keyFile: nil)
            Issue.record("a group-readable key was used")
        } catch {
            guard case .file(path, .untrustedKeyFile(let st)) = error else { Issue.record("\(error)"); return }
            #expect(st.permissions == 0o640)
            #expect(error.reason.contains("mode 0640") && error.reason.contains("chmod 0600"))
        }
    }

    @Test func aFleetKeyThatIsNotRootsIsRefused() throws {
        let path = try writeFleetKey(mode: 0o600)
        #expect(chown(path, 1, 1) == 0)
        do {
            _ = try ConfigKey.forConfig(root: root, keyFile: nil)
            Issue.record("a key of uid 1's was used")
        } catch {
            guard case .file(path, .untrustedKeyFile(let st)) = error else { Issue.record("\(error)"); return }
            #expect(st.uid == 1)
        }
    }

    @Test func aWrongKeySaysWhichKeyWasTried() throws {
        let key = try writeFleetKey(mode: 0o600)
        let config = configPath
        try Data(hex(Vectors.seed[5].ciphertext)).write(to: URL(fileURLWithPath: config))  // made with the seed's key
        do {
            _ = try DeviceConfig.load(root: root, interfaces: net)
            Issue.record("decrypted with the wrong key")
        } catch {
            guard case .file(config, .decrypted(with: "the fleet key \(key)", _)) = error else { Issue.record("\(error)"); return }
            #expect(error.reason.hasPrefix("\(config): wrong key or corrupted file"))
            #expect(error.reason.hasSuffix("; decrypted with the fleet key \(key)") && error.exitStatus == 65)
        }
        try FileManager.default.removeItem(atPath: key)
        try Data(hex(Vectors.custom[1].ciphertext)).write(to: URL(fileURLWithPath: config))
        #expect(throws: ConfigError.self) { try DeviceConfig.load(root: root, interfaces: net) }
        do { _ = try DeviceConfig.load(root: root, interfaces: net) } catch {
            #expect(error.reason.hasSuffix("; decrypted with the seed's key"))
        }
    }

    @Test func configLoadDecryptsWithTheFleetKey() throws {
        _ = try writeFleetKey(mode: 0o600)
        try ConfigTool.encrypt(input: try writePlain(Vectors.sampleJSON), output: configPath, keyFile: ConfigKey.fleetFile(root: root))
        #expect(try DeviceConfig.load(root: root, interfaces: net).password == "s3cret")
    }

    @Test func encryptWritesWhatOpenSSLWouldMode0600() throws {
        let input = try writePlain(Vectors.sampleJSON)
        let output = "\(folder)/out.bin"
        try ConfigTool.encrypt(input: input, output: output, keyFile: nil)
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(hex(Vectors.seed[5].ciphertext)))
        let mode = try FileManager.default.attributesOfItem(atPath: output)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(!FileManager.default.fileExists(atPath: output + ".new"))
    }

    @Test func aStaleTemporaryFileDoesNotLendItsMode() throws {
        let output = "\(folder)/out.bin"
        _ = FileManager.default.createFile(atPath: output + ".new", contents: Data(), attributes: [.posixPermissions: 0o644])
        try ConfigTool.encrypt(input: try writePlain(Vectors.sampleJSON), output: output, keyFile: nil)
        #expect(try FileManager.default.attributesOfItem(atPath: output)[.posixPermissions] as? Int == 0o600)
    }

    @Test func anInvalidConfigIsNotEncrypted() throws {
        let input = try writePlain(DeviceConfigTests.json([:], dropping: "cpanel_jid"))
        let output = "\(folder)/out.bin"
        #expect(throws: ConfigError.file(input, .missing("xmpp_client.cpanel_jid"))) {
            try ConfigTool.encrypt(input: input, output: output, keyFile: nil)
        }
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func decryptMasksThePasswordUnlessAsked() throws {
        let input = "\(folder)/c.bin"
        try Data(hex(Vectors.seed[5].ciphertext)).write(to: URL(fileURLWithPath: input))
        let masked = try ConfigTool.decrypt(input: input, keyFile: nil, showSecrets: false)
        #expect(!masked.contains("s3cret") && masked.contains(#""client_password":"********""#))
        #expect(try JSONValue.parse(masked)["xmpp_client"]?["client_jid"]?.stringValue == "rpi@example.com")
        #expect(try ConfigTool.decrypt(input: input, keyFile: nil, showSecrets: true) == Vectors.sampleJSON)
    }

    @Test func checkSummarisesWithoutThePassword() throws {
        try Data(hex(Vectors.seed[5].ciphertext)).write(to: URL(fileURLWithPath: configPath))
        let line = try ConfigTool.check(root: root, keyFile: nil, interfaces: net)
        #expect(line == "config ok: client rpi@example.com, panel panel@example.com, device b8:27:eb:12:34:56 (MAC address), TLS required")
    }

    @Test func aKeyFileRoundTrips() throws {
        let keyFile = try writePlain(Vectors.customKeyFile, to: "key")
        let output = "\(folder)/out.bin"
        try ConfigTool.encrypt(input: try writePlain(Vectors.sampleJSON), output: output, keyFile: keyFile)
        #expect(try ConfigTool.decrypt(input: output, keyFile: keyFile, showSecrets: true) == Vectors.sampleJSON)
        #expect(throws: ConfigError.file(output, .badPadding)) { try ConfigTool.decrypt(input: output, keyFile: nil, showSecrets: false) }
    }

    @Test func fileErrorsNameTheFileAndTheirExitStatus() throws {
        let missing = "\(folder)/missing.bin"
        do {
            _ = try ConfigTool.decrypt(input: missing, keyFile: nil, showSecrets: false)
            Issue.record("decrypted a missing file")
        } catch {
            #expect(error == .file(missing, .cannotRead(.noSuchFile)) && error.exitStatus == 66)
            #expect(error.reason == "\(missing): cannot read: No such file or directory")
        }
        #expect(throws: ConfigError.file(configPath, .cannotRead(.noSuchFile))) { try DeviceConfig.load(root: root, interfaces: net) }
        #expect(ConfigError.file("x", .badPadding).exitStatus == 65)
        #expect(ConfigError.file("x", .cannotWrite(.permissionDenied)).exitStatus == 71)
    }

    @Test func aDamagedMiddleBlockIsReportedAsNotJSON() throws {
        // CBC: flipping a ciphertext byte garbles its own block and flips the
        // same bit in the next one; the padding at the end survives.
        var ciphertext = hex(Vectors.seed[5].ciphertext)
        ciphertext[20] ^= 0xFF
        try Data(ciphertext).write(to: URL(fileURLWithPath: configPath))
        do {
            _ = try DeviceConfig.load(root: root, interfaces: net)
            Issue.record("loaded a damaged file")
        } catch {
            guard case .file(configPath, .decryptedNotJSON) = error else { Issue.record("\(error)"); return }
            #expect(error.exitStatus == 65)
        }
    }

    @Test func aTooLargeInputIsRefusedAsData() throws {
        let input = try writePlain(String(repeating: " ", count: ConfigFile.maximumBytes + 1))
        #expect(throws: ConfigError.file(input, .tooLarge(limit: ConfigFile.maximumBytes))) {
            try ConfigTool.encrypt(input: input, output: "\(folder)/out.bin", keyFile: nil)
        }
    }
}
