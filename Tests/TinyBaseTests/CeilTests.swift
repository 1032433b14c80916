import CShims
import Glibc
import TestSupport
import Testing

/// Sources/CShims/ceil.c: the programs' own ceil (the one libm function the Embedded stdlib
/// calls), bit for bit as glibc's libm, which is found with dlsym: in this executable the
/// name `ceil` is ceil.c's.
@Suite struct CeilTests {
    typealias Ceil = @convention(c) (Double) -> Double

    static func libmCeil() throws -> Ceil {
        let libm = try #require(dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL))
        return unsafeBitCast(try #require(dlsym(libm, "ceil")), to: Ceil.self)
    }

    static func same(_ a: Double, _ b: Double) -> Bool {
        a.isNaN ? b.isNaN : a.bitPattern == b.bitPattern
    }

    @Test func edgesAnswerAsLibm() throws {
        let reference = try Self.libmCeil()
        var values: [Double] = [0, -0.0, 0.5, -0.5, 1, -1, 1.5, -1.5, 2.5, -2.5, .infinity, -.infinity, .nan,
                                .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude,
                                .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 0x1p52, -0x1p52, 0x1p53,
                                0x1p52 - 0.5, -(0x1p52 - 0.5), 0x1p51 + 0.5, 1.0.nextDown, 1.0.nextUp, (-1.0).nextUp,
                                (-1.0).nextDown, 42.0.nextUp, (-42.0).nextDown, 7.0 / 3, -7.0 / 3, 0.75 * 4096]
        values += values.map { -$0 }
        for x in values { #expect(Self.same(ta_ceil(x), reference(x)), "ceil(\(x)) = \(ta_ceil(x)), libm \(reference(x))") }
    }

    @Test func randomDoublesAnswerAsLibm() throws {
        let reference = try Self.libmCeil()
        var random = SplitMix64(state: 0xCE11)
        var wrong = 0
        for i in 0..<200_000 {
            // Every bit pattern, then values near integers of every size the stdlib asks about.
            let bits = random.next()
            let x = i % 2 == 0 ? Double(bitPattern: bits)
                : Double(Int64(bitPattern: bits) >> (bits & 63)) + Double(Int(bits >> 60) - 8) / 16
            if !Self.same(ta_ceil(x), reference(x)) { wrong += 1 }
        }
        #expect(wrong == 0)
    }
}
