import Foundation
import KilnHTTP
import KilnJSON
import KilnServe
import KilnText
import KilnTokenizer
import Logging

/// One completion request in flight: its jobs (one per choice), the text each has produced, and
/// the way back to the client — one JSON body at the end, or Server-Sent Events as tokens arrive.
///
/// Events arrive on the scheduler thread (a job cancelled while queued reports on the cancelling
/// thread), so every state change happens under `lock`. Writes to the client hop onto the
/// connection's queue by themselves.
// @unchecked Sendable: every state change happens under `lock` (or `streamLock` for the stream).
final class GenerationRun: JobFanOut, @unchecked Sendable {
    enum Kind { case chat, text }

    struct Choice {
        var detokenizer: StreamingDetokenizer
        var stops: StopSequenceMatcher
        /// Text before the generated text: the prompt, for completions with `echo`.
        var prefix: String
        /// Whether this choice's prompt is counted in `usage` (once per distinct prompt).
        var countsPrompt: Bool
        /// For JSON formats: the whitespace after the value, held back and dropped.
        var trailingWhitespace: TrailingWhitespaceTrimmer?
        /// Splits the answer into text and calls, for a chat request with tools.
        var toolCalls: ToolCallParser?
        /// The id given to each call, in order.
        var callIDs: [String] = []
        var text = ""
        var logprobs: [TokenLogprob] = []
        var finish: CompletionFinishReason?
        var usage = Usage()
        var sentFirstChunk = false
    }

    let kind: Kind
    let options: GenerationOptions
    let tokenizer: Tokenizer
    let writer: CompletionResponseWriter
    let responder: HTTPResponder
    /// Whether the client asked for an event stream.
    private let streams: Bool
    /// The event stream, once started (guarded by `streamLock`): not before the jobs are in, so
    /// that a request refused on submission (queue full, draining) gets its plain 429 or 503.
    private var startedStream: EventStreamWriter?
    private let streamLock = NSLock()
    private let lock = NSLock()
    private var choices: [Choice]
    private var jobs: [Job?]
    private var remaining: Int
    private var finished = false

    init(
        kind: Kind, options: GenerationOptions, tokenizer: Tokenizer, writer: CompletionResponseWriter,
        responder: HTTPResponder, choices: [Choice]
    ) {
        self.kind = kind
        self.options = options
        self.tokenizer = tokenizer
        self.writer = writer
        self.responder = responder
        self.choices = choices
        jobs = Array(repeating: nil, count: choices.count)
        remaining = choices.count
        streams = options.stream
        responder.cancellation.onCancel { [weak self] _ in self?.cancelAll() }
    }

    /// Records the job serving choice `index` (after `submit` returned it).
    func attach(_ job: Job, to index: Int) {
        let cancelNow: Bool = lock.withLock {
            jobs[index] = job
            return finished
        }
        if cancelNow { job.cancel() }
    }

    /// Fails the whole request, e.g. when a later choice could not be submitted.
    func fail(_ error: APIError) {
        let toCancel: [Job] = lock.withLock {
            guard !finished else { return [] }
            finished = true
            return jobs.compactMap { $0 }
        }
        toCancel.forEach { $0.cancel() }
        deliver(error)
    }

    func handler(for index: Int) -> JobEventHandler {
        { [self] event in handle(event, choice: index) }
    }

    private func cancelAll() {
        let toCancel: [Job] = lock.withLock {
            finished = true
            return jobs.compactMap { $0 }
        }
        toCancel.forEach { $0.cancel() }
    }

    private func handle(_ event: JobEvent, choice index: Int) {
        switch event {
        case .token(let token):
            let (chunks, stop) = lock.withLock { () -> ([JSONValue], Bool) in
                guard !finished else { return ([], false) }
                var choice = choices[index]
                var piece = choice.stops.append(choice.detokenizer.append(token.id))
                if choice.trailingWhitespace != nil { piece = choice.trailingWhitespace!.append(piece) }
                choice.text += piece
                var logprob: TokenLogprob?
                if options.topLogprobs != nil, let payload = token.logprobs as? TokenLogProbabilities {
                    logprob = convert(payload)
                    choice.logprobs.append(logprob!)
                }
                var chunks: [JSONValue] = []
                if choice.toolCalls != nil {
                    let events = choice.toolCalls!.append(piece)
                    if streams { chunks = toolChunks(&choice, index: index, events: events, logprobs: logprob) }
                } else if streams, !piece.isEmpty || logprob != nil {
                    chunks = [streamChunk(&choice, index: index, text: piece, logprobs: logprob.map { [$0] }, finish: nil)]
                }
                choices[index] = choice
                return (chunks, choice.stops.stopped)
            }
            if !chunks.isEmpty, let events = openStream() {
                for chunk in chunks { events.send(data: chunk.serialized) }
            }
            if stop { lock.withLock { jobs[index] }?.requestStop() }
        case .done(let completion):
            guard completion.reason != .cancelled else { return finishIfDone() }
            let chunks: [JSONValue] = lock.withLock {
                guard !finished else { return [] }
                var choice = choices[index]
                var tail = choice.stops.append(choice.detokenizer.finish()) + choice.stops.finish()
                if choice.trailingWhitespace != nil { tail = choice.trailingWhitespace!.append(tail) }
                choice.text += tail
                choice.finish = choice.stops.stopped || completion.reason == .stop ? .stop : .length
                var toolEvents: [ToolCallParser.Event] = []
                if choice.toolCalls != nil {
                    toolEvents = choice.toolCalls!.append(tail) + choice.toolCalls!.finish()
                    if choice.toolCalls!.callsComplete { choice.finish = .toolCalls }
                }
                choice.usage = Usage(
                    promptTokens: choice.countsPrompt ? completion.usage.promptTokens : 0,
                    completionTokens: completion.usage.completionTokens,
                    cachedPromptTokens: choice.countsPrompt ? completion.usage.cachedPromptTokens : 0)
                var out: [JSONValue] = []
                if streams {
                    if choice.toolCalls != nil {
                        out += toolChunks(&choice, index: index, events: toolEvents, logprobs: nil)
                    } else if !tail.isEmpty {
                        out.append(streamChunk(&choice, index: index, text: tail, logprobs: nil, finish: nil))
                    }
                    out.append(streamChunk(&choice, index: index, text: nil, logprobs: nil, finish: choice.finish))
                }
                choices[index] = choice
                return out
            }
            if let events = chunks.isEmpty ? nil : openStream() {
                for chunk in chunks { events.send(data: chunk.serialized) }
            }
            finishIfDone()
        case .error(let error):
            fail(APIError(serveError: error))
        case .imageProgress, .imageFinished, .embeddingsFinished:
            break  // image and embedding events never reach a text job
        }
    }

    /// Called once per ended job; the last one sends the answer.
    private func finishIfDone() {
        let isLast: Bool = lock.withLock {
            remaining -= 1
            guard remaining == 0, !finished else { return false }
            finished = true
            return true
        }
        guard isLast else { return }
        let usage = choices.reduce(Usage()) { $0 + $1.usage }
        logFinished(usage)
        if let events = openStream() {
            if options.includeUsageInStream {
                let object = kind == .chat ? "chat.completion.chunk" : "text_completion"
                events.send(data: writer.usageChunk(object: object, usage: usage).serialized)
            }
            events.send(data: "[DONE]")
            events.finish()
            return
        }
        let body: JSONValue
        switch kind {
        case .chat:
            body = writer.chatCompletion(
                choices: choices.enumerated().map { index, choice in
                    .init(
                        index: index, text: choice.toolCalls?.content ?? choice.text, finishReason: choice.finish ?? .stop,
                        logprobs: options.topLogprobs == nil ? nil : choice.logprobs, toolCalls: toolCallOutputs(choice))
                }, usage: usage)
        case .text:
            body = writer.textCompletion(
                choices: choices.enumerated().map { index, choice in
                    .init(
                        index: index, text: choice.prefix + choice.text, finishReason: choice.finish ?? .stop,
                        logprobs: options.topLogprobs == nil ? nil : choice.logprobs, textOffset: choice.prefix.count)
                }, usage: usage)
        }
        responder.respond(.json(body.serialized))
    }

    /// One `debug` line per finished request with its finish reasons and token counts, its
    /// `request_id` joining it to the access log line.
    private func logFinished(_ usage: Usage) {
        let logger = responder.logger
        guard logger.logLevel <= .debug else { return }
        logger.debug(
            "generation finished",
            metadata: [
                "finish_reasons": .string(choices.map { $0.finish?.rawValue ?? "-" }.joined(separator: ",")),
                "prompt_tokens": .stringConvertible(usage.promptTokens),
                "completion_tokens": .stringConvertible(usage.completionTokens),
                "cached_prompt_tokens": .stringConvertible(usage.cachedPromptTokens),
            ])
    }

    /// Starts the event stream once every job is submitted (`submitJobs` calls it); the first
    /// event may have started it already.
    func startStreaming() { openStream() }

    /// Starts the event stream (the 200 head) unless it has started; nil without streaming.
    @discardableResult
    private func openStream() -> EventStreamWriter? {
        guard streams else { return nil }
        streamLock.lock()
        defer { streamLock.unlock() }
        if startedStream == nil { startedStream = responder.startEventStream() }
        return startedStream
    }

    private func deliver(_ error: APIError) {
        let events = streamLock.withLock { startedStream }
        if let events {
            responder.fail(events, with: error)
        } else {
            responder.respond(error)
        }
    }

    private func streamChunk(
        _ choice: inout Choice, index: Int, text: String?, logprobs: [TokenLogprob]?,
        finish: CompletionFinishReason?
    ) -> JSONValue {
        defer { choice.sentFirstChunk = true }
        switch kind {
        case .chat:
            return writer.chatChunk(
                index: index, role: !choice.sentFirstChunk, content: text ?? (choice.sentFirstChunk ? nil : ""),
                logprobs: logprobs, finishReason: finish)
        case .text:
            let leading = choice.sentFirstChunk ? "" : choice.prefix
            return writer.textChunk(
                .init(
                    index: index, text: leading + (text ?? ""), finishReason: finish,
                    logprobs: logprobs))
        }
    }

    /// The stream chunks telling `events`: text as content, a call's start with its id and name,
    /// its arguments in fragments. The token's log-probabilities ride on the first.
    private func toolChunks(
        _ choice: inout Choice, index: Int, events: [ToolCallParser.Event], logprobs: TokenLogprob?
    ) -> [JSONValue] {
        var pendingLogprobs = logprobs.map { [$0] }
        var chunks: [JSONValue] = []
        func add(content: String?, toolCall: ToolCallOutput?) {
            chunks.append(
                writer.chatChunk(
                    index: index, role: !choice.sentFirstChunk, content: content ?? (choice.sentFirstChunk ? nil : ""),
                    toolCall: toolCall, logprobs: pendingLogprobs))
            choice.sentFirstChunk = true
            pendingLogprobs = nil
        }
        for event in events {
            switch event {
            case .content(let text):
                add(content: text, toolCall: nil)
            case let .callStarted(call, name):
                let id = choice.toolCalls!.syntax.makeCallID()
                choice.callIDs.append(id)
                add(content: nil, toolCall: ToolCallOutput(index: call, id: id, name: name, arguments: ""))
            case let .arguments(call, fragment):
                add(content: nil, toolCall: ToolCallOutput(index: call, arguments: fragment))
            }
        }
        if pendingLogprobs != nil { add(content: nil, toolCall: nil) }
        return chunks
    }

    /// The calls of a finished choice, with the ids streaming gave them (made now otherwise).
    private func toolCallOutputs(_ choice: Choice) -> [ToolCallOutput] {
        guard let parser = choice.toolCalls else { return [] }
        return parser.calls.enumerated().map { index, call in
            ToolCallOutput(
                index: index, id: index < choice.callIDs.count ? choice.callIDs[index] : parser.syntax.makeCallID(), name: call.name,
                arguments: call.arguments)
        }
    }

    private func convert(_ payload: TokenLogProbabilities) -> TokenLogprob {
        func alternative(_ entry: TokenLogProbabilities.Entry) -> TokenLogprob.Alternative {
            let bytes = tokenizer.pieceBytes(entry.token)
            return .init(token: String(decoding: bytes, as: UTF8.self), bytes: bytes, logprob: Double(entry.logProbability))
        }
        return TokenLogprob(chosen: alternative(payload.chosen), top: payload.top.map(alternative))
    }
}
