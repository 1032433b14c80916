// The decrypted config (DeviceConfig.parse), the AES-256-CBC layer around it
// (ConfigCipher) and key files (ConfigKey.parse). Invariants: an accepted
// config is within its documented limits and survives write → parse; every
// refusal is one line; encrypt → decrypt is the identity; random ciphertext
// either fails cleanly or decrypts to something shorter.
import FuzzSupport
@testable import TinyAgent
@testable import TinyBase
@testable import TinyFetch
@testable import TinyWatchdog

@_cdecl("fuzz_config_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    check(plaintext: input)

    let key = ConfigKey.seed
    let ciphertext = ConfigCipher.encrypt(input, key: key)
    expect(ciphertext.count % 16 == 0 && ciphertext.count > input.count && ciphertext.count <= input.count + 16, "ciphertext length")
    expect((try? ConfigCipher.decrypt(ciphertext, key: key)) == input, "encrypt → decrypt changed the bytes")

    do {
        let plaintext = try ConfigCipher.decrypt(input, key: key)
        expect(plaintext.count < input.count && plaintext.count >= input.count - 16, "plaintext length")
        check(plaintext: plaintext)
    } catch {
        expect(isOneLine(error.reason), "decrypt refusal: \(error.reason)")
    }

    do {
        let fileKey = try ConfigKey.parse(input)
        expect(fileKey.key.count == 32 && fileKey.iv.count == 16, "key file sizes")
    } catch {
        expect(isOneLine(error.reason), "key file refusal: \(error.reason)")
    }
    return 0
}

private func check(plaintext: [UInt8]) {
    let config: DeviceConfig
    do {
        config = try DeviceConfig.parse(plaintext)
    } catch {
        expect(isOneLine(error.reason), "config refusal: \(error.reason)")
        return
    }
    expect(JID.problem(in: config.clientJID) == nil && JID.problem(in: config.panelJID) == nil, "JIDs")
    let password = config.password.utf8
    expect(!password.isEmpty && password.count <= DeviceConfig.maximumPasswordBytes && !password.contains(0), "password")
    expect(isOneLine(config.deviceID) && config.deviceID.utf8.count <= DeviceConfig.maximumDeviceIDBytes, "device id")
    expect(config.deviceIDIsMACAddress == (config.deviceID == DeviceConfig.macAddressID), "mac-address id")
    if let host = config.host { expect(ServerEndpoint.hostProblem(host) == nil, "host") }
    if let port = config.port { expect(port >= 1, "port") }

    var w = JSONWriter()
    w.beginObject()
    w.key("xmpp_client")
    w.beginObject()
    w.key("client_jid"); w.string(config.clientJID)
    w.key("client_password"); w.string(config.password)
    w.key("cpanel_jid"); w.string(config.panelJID)
    w.key("rpi_unique_id"); w.string(config.deviceID)
    if let host = config.host { w.key("host"); w.string(host) }
    if let port = config.port { w.key("port"); w.integer(port) }
    w.key("tls"); w.string(config.tlsRequired ? "required" : "disabled")
    w.endObject()
    w.endObject()
    expect((try? DeviceConfig.parse(Array(w.text.utf8))) == config, "config changed by write → parse: \(w.text)")
}
