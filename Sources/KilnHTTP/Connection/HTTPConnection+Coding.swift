/// gzip on a connection: compressing eligible responses, inflating gzip request bodies.
extension HTTPConnection {
    /// Compresses `response` when the request accepts gzip and the body is eligible. The flag
    /// says whether the coding depended on the request (every compressible response, compressed
    /// or not), so that `Vary: Accept-Encoding` is sent.
    ///
    /// The request's head is read through `exchange` only when compressing: copying it costs more
    /// than the check itself.
    func encodeForClient(_ response: HTTPResponse, for exchange: Exchange) -> (HTTPResponse, varyOnAcceptEncoding: Bool) {
        let settings = context.configuration.compression
        guard settings.compressesResponses, !HTTPResponse.statusForbidsBody(response.status),
            CompressionSettings.isCompressible(contentType: response.headers["Content-Type"]),
            !response.headers.contains(name: "Content-Encoding")
        else {
            return (response, false)
        }
        guard response.body.count >= settings.minimumResponseBytes else { return (response, true) }
        let acceptEncoding = exchange.head.headers.values(for: "Accept-Encoding")
        let coding = ContentCoding.negotiate(acceptEncoding: acceptEncoding.isEmpty ? nil : acceptEncoding.joined(separator: ", "))
        guard coding == .gzip else { return (response, true) }
        var encoded = response
        encoded.body = GzipCompressor.compress(response.body, level: settings.level)
        encoded.headers.add(name: "Content-Encoding", value: "gzip")
        return (encoded, true)
    }

    /// Prepares to decode the body of `head`; false when the connection already answered (415).
    func prepareBodyDecoding(for head: HTTPRequestHead) -> Bool {
        bodyDecoder = nil
        guard head.headers.contains(name: "Content-Encoding") else { return true }
        let values = head.headers.values(for: "Content-Encoding")
        guard let coding = ContentCoding(contentEncoding: values.joined(separator: ", ")) else {
            failRequest(status: 415, message: "Unsupported Content-Encoding; only gzip is accepted.")
            return false
        }
        guard coding == .gzip else { return true }
        guard context.configuration.compression.acceptsGzipRequests else {
            failRequest(status: 415, message: "gzip request bodies are disabled on this server.")
            return false
        }
        bodyDecoder = GzipDecompressor(maxOutputBytes: context.configuration.parserLimits.maxBodyBytes)
        return true
    }

    /// Appends received body bytes, inflating them when the body is gzip; false after answering an error.
    func appendBody(_ bytes: [UInt8]) -> Bool {
        guard let decoder = bodyDecoder else {
            pendingBody.append(contentsOf: bytes)
            return true
        }
        do {
            pendingBody.append(contentsOf: try decoder.decompress(bytes))
            return true
        } catch {
            failBodyDecoding(error)
            return false
        }
    }

    /// Checks the gzip body ended properly; the handler then sees the inflated body with no
    /// `Content-Encoding`. False after answering an error.
    func finishBody() -> Bool {
        guard let decoder = bodyDecoder else { return true }
        bodyDecoder = nil
        do {
            try decoder.finish()
        } catch {
            failBodyDecoding(error)
            return false
        }
        pendingHead?.headers.remove(name: "Content-Encoding")
        pendingHead?.headers.remove(name: "Content-Length")
        return true
    }

    private func failBodyDecoding(_ error: Error) {
        bodyDecoder = nil
        if case GzipError.outputTooLarge = error {
            failRequest(status: 413, message: "The decompressed request body exceeds \(context.configuration.parserLimits.maxBodyBytes) bytes.")
        } else {
            failRequest(status: 400, message: "The gzip request body is invalid: \(error)")
        }
    }
}
