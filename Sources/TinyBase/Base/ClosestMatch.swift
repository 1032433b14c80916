/// The closest of `candidates` to `word`, when close enough to be a typo
/// (edit distance at most 2, and less than a third of the word): the
/// "did you mean" of a warning about an unknown key.
package func closestMatch(to word: String, among candidates: [String]) -> String? {
    let w = Array(word.utf8)
    var best: (String, Int)?
    for candidate in candidates {
        let d = editDistance(w, Array(candidate.utf8))
        if d <= 2 && d * 3 < max(w.count, 3), best == nil || d < best!.1 { best = (candidate, d) }
    }
    return best?.0
}

/// Levenshtein distance with adjacent transpositions counting as one edit.
func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var before = [Int](repeating: 0, count: b.count + 1)
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = min(current[j], before[j - 2] + 1)
            }
        }
        (before, previous, current) = (previous, current, before)
    }
    return previous[b.count]
}
