import Foundation
import KilnHTTP
import KilnImage
import KilnJSON
import KilnServe

/// One images request in flight: its jobs (one per image) and the way back to the client.
///
/// Scheduler events hop at once onto the run's own serial queue, where PNG encoding, base64 and
/// writing happen, so the scheduler thread never waits for them and events keep their order.
// @unchecked Sendable: the run's state lives on its serial queue `work` (events hop onto it), and the
// job list shared with the submitting thread is guarded by `lock`.
final class ImageGenerationRun: JobFanOut, @unchecked Sendable {
    let count: Int
    let size: String
    let promptTokens: Int
    let responder: HTTPResponder
    /// Most previews per image, or nil for no limit beyond the interval.
    let partialImageLimit: Int?
    private let created = Int(Date().timeIntervalSince1970)
    /// Whether the client asked for an event stream.
    private let streams: Bool
    /// The event stream once started (on `work` only): not before the jobs are in, so that a
    /// request refused on submission (queue full, draining) gets its plain 429 or 503.
    private var events: EventStreamWriter?
    private let work = DispatchQueue(label: "kiln.image-run")
    private let lock = NSLock()
    private var jobs: [Job?]
    /// Fields below: only on `work`.
    private var images: [String?]
    private var previewsSent: [Int]
    private var remaining: Int
    private var finished = false
    /// Set (under `lock`) once the request has failed or its client left: jobs attached later are
    /// cancelled at once instead of running for nobody.
    private var abandoned = false

    init(count: Int, stream: Bool, partialImageLimit: Int?, size: String, promptTokens: Int, responder: HTTPResponder) {
        self.count = count
        self.size = size
        self.promptTokens = promptTokens
        self.responder = responder
        self.partialImageLimit = partialImageLimit
        jobs = Array(repeating: nil, count: count)
        images = Array(repeating: nil, count: count)
        previewsSent = Array(repeating: 0, count: count)
        remaining = count
        streams = stream
        responder.cancellation.onCancel { [weak self] _ in self?.cancelAll() }
    }

    func attach(_ job: Job, to index: Int) {
        let cancelNow: Bool = lock.withLock {
            jobs[index] = job
            return abandoned || responder.cancellation.isCancelled
        }
        if cancelNow { job.cancel() }
    }

    func handler(for index: Int) -> JobEventHandler {
        { [self] event in work.async { self.handle(event, index: index) } }
    }

    /// Fails the whole request (on any thread).
    func fail(_ error: APIError) {
        work.async { self.failOnQueue(error) }
    }

    private func cancelAll() {
        lock.withLock { () -> [Job] in
            abandoned = true
            return jobs.compactMap { $0 }
        }.forEach { $0.cancel() }
    }

    private func handle(_ event: JobEvent, index: Int) {
        guard !finished else { return }
        switch event {
        case .imageProgress(let progress):
            guard let events = startedStream(), let preview = progress.preview else { return }
            if let limit = partialImageLimit, previewsSent[index] >= limit { return }
            guard let png = try? preview.pngData() else { return }
            let payload = eventObject(
                type: "image_generation.partial_image", png: png, index: index,
                extra: [
                    ("partial_image_index", .int(previewsSent[index])), ("step", .int(progress.step)),
                    ("total_steps", .int(progress.totalSteps)),
                ])
            previewsSent[index] += 1
            events.send(data: payload.serialized, event: "image_generation.partial_image")
        case .imageFinished(let image):
            let png: [UInt8]
            do {
                png = try image.pngData()
            } catch {
                return failOnQueue(APIError.internalError("PNG encoding failed: \(error)"))
            }
            if let events = startedStream() {
                let payload = eventObject(
                    type: "image_generation.completed", png: png, index: index,
                    extra: [("usage", usage(images: 1))])
                events.send(data: payload.serialized, event: "image_generation.completed")
            } else {
                images[index] = Data(png).base64EncodedString()
            }
            finishOne()
        case .done:
            // Only a cancelled job ends with `.done`: the client is gone, nothing to send.
            failOnQueue(APIError.unavailable("The image job was cancelled"))
        case .error(let error):
            failOnQueue(APIError(serveError: error))
        case .token, .embeddingsFinished:
            break  // text and embedding events never reach an image job
        }
    }

    private func finishOne() {
        remaining -= 1
        guard remaining == 0 else { return }
        finished = true
        if let events = startedStream() {
            events.send(data: "[DONE]")
            events.finish()
            return
        }
        let data = images.map { image in JSONValue.object([("b64_json", .string(image ?? ""))]) }
        let body = JSONValue.object([
            ("created", .int(created)), ("data", .array(data)), ("size", .string(size)),
            ("output_format", "png"), ("usage", usage(images: count)),
        ])
        responder.respond(.json(body.serialized))
    }

    /// Starts the event stream once every job is submitted (`submitJobs` calls it).
    func startStreaming() {
        work.async { if !self.finished { _ = self.startedStream() } }
    }

    /// The event stream, started on first use; nil without streaming. On `work` only.
    private func startedStream() -> EventStreamWriter? {
        guard streams else { return nil }
        if events == nil { events = responder.startEventStream() }
        return events
    }

    private func failOnQueue(_ error: APIError) {
        guard !finished else { return }
        finished = true
        cancelAll()
        if let events {
            responder.fail(events, with: error, event: "error")
        } else {
            responder.respond(error)
        }
    }

    private func eventObject(type: String, png: [UInt8], index: Int, extra: [(String, JSONValue)]) -> JSONValue {
        .object(
            [
                ("type", .string(type)), ("b64_json", .string(Data(png).base64EncodedString())),
                ("created_at", .int(Int(Date().timeIntervalSince1970))), ("size", .string(size)),
                ("quality", "auto"), ("background", "opaque"), ("output_format", "png"), ("index", .int(index)),
            ] + extra)
    }

    /// OpenAI's image usage shape: the prompt's CLIP tokens are the input; no output tokens.
    private func usage(images: Int) -> JSONValue {
        .object([
            ("input_tokens", .int(promptTokens)), ("output_tokens", .int(0)), ("total_tokens", .int(promptTokens)),
            ("input_tokens_details", .object([("text_tokens", .int(promptTokens)), ("image_tokens", .int(0))])),
        ])
    }
}

extension RenderedImage {
    /// The image as a PNG file (8-bit RGB).
    func pngData() throws -> [UInt8] {
        try PNGEncoder.encode(planar: pixels, width: width, height: height)
    }
}
