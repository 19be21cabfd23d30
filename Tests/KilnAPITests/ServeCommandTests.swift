import Foundation
import Testing

/// The real `kiln` binary: startup time, ops endpoints, signals, configuration precedence, logs
/// and TLS certificate reload on SIGHUP.
@Suite("kiln serve (the binary)")
struct ServeCommandTests {
    /// `kiln` is built next to the test bundle.
    static var binary: String {
        let testExecutable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return testExecutable.deletingLastPathComponent().appendingPathComponent("kiln").path
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// A running `kiln serve` whose stdout is watched for the listening line.
    final class RunningServer {
        let process = Process()
        let output = Pipe()
        let errors: URL
        private(set) var port = 0
        private(set) var startupSeconds = 0.0

        init(_ arguments: [String], environment: [String: String] = [:]) throws {
            errors = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-serve-\(UUID().uuidString).log")
            _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: ServeCommandTests.binary)
            process.arguments = ["serve"] + arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = output
            process.standardError = try FileHandle(forWritingTo: errors)
            let start = Date()
            try process.run()
            var text = ""
            while !text.contains("\n") {
                let data = output.fileHandleForReading.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
            }
            startupSeconds = Date().timeIntervalSince(start)
            guard let match = text.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
                throw TestError("no listening line: \(text) \(log)")
            }
            port = match
        }

        var log: String { (try? String(contentsOf: errors, encoding: .utf8)) ?? "" }

        /// Sends `signal` and waits for the exit status (20 s: CI machines can be heavily loaded).
        func stop(signal: Int32 = SIGTERM, timeout: Double = 20) -> Int32? {
            kill(process.processIdentifier, signal)
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning {
                process.terminate()
                return nil
            }
            return process.terminationStatus
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            try? FileManager.default.removeItem(at: errors)
        }
    }

    struct TestError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-out-\(UUID().uuidString)")
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
    }

    @Test func startsFastAnswersAndStopsCleanlyOnSIGTERM() throws {
        let server = try RunningServer(["--host", "127.0.0.1", "--port", "0", "--log-level", "warning"])
        #expect(server.startupSeconds < 1.0)
        let (_, health, _) = try Self.run("curl", ["-s", "http://127.0.0.1:\(server.port)/health"])
        #expect(health == "{\"status\":\"ok\"}")
        // /ready answers 503 "loading" until the model has loaded, then 200 "ready".
        var ready = ""
        let deadline = Date().addingTimeInterval(60)
        repeat {
            (_, ready, _) = try Self.run("curl", ["-s", "-w", " %{http_code}", "http://127.0.0.1:\(server.port)/ready"])
            if ready != "{\"status\":\"loading\"} 503" { break }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < deadline
        #expect(ready == "{\"status\":\"ready\"} 200")
        #expect(server.stop(signal: SIGTERM) == 0)
    }

    @Test func stopsCleanlyOnSIGINT() throws {
        let server = try RunningServer(["--port", "0", "--log-level", "warning"])
        #expect(server.stop(signal: SIGINT) == 0)
    }

    @Test func configurationPrecedenceIsFileThenEnvironmentThenFlags() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-\(UUID().uuidString).toml")
        defer { try? FileManager.default.removeItem(at: file) }
        try """
        # test config
        [server]
        port = 1111
        [limits]
        max_connections = 7   # trailing comment
        [security]
        cors_allowed_origins = ["https://a.example", 'https://b.example']
        [timeouts]
        send_timeout = 3
        """.write(to: file, atomically: true, encoding: .utf8)
        func printed(_ arguments: [String], _ environment: [String: String] = [:]) throws -> String {
            let (status, output, errors) = try Self.run(
                Self.binary, ["serve", "--config", file.path, "--print-config"] + arguments,
                environment: environment)
            #expect(status == 0, "\(errors)")
            return output
        }
        let fromFile = try printed([])
        #expect(fromFile.contains("port = 1111\n"))
        #expect(fromFile.contains("max_connections = 7\n"))
        #expect(fromFile.contains("send_timeout = 3.0\n"))
        #expect(fromFile.contains("cors_allowed_origins = [\"https://a.example\", \"https://b.example\"]\n"))
        let fromEnvironment = try printed([], ["KILN_PORT": "2222", "KILN_API_KEYS": "k1,k2"])
        #expect(fromEnvironment.contains("port = 2222\n"))
        #expect(fromEnvironment.contains("api_keys = [\"k1\", \"k2\"]\n"))
        #expect(fromEnvironment.contains("max_connections = 7\n"))
        let fromFlags = try printed(["--port", "3333", "--api-keys", "k3"], ["KILN_PORT": "2222", "KILN_API_KEYS": "k1,k2"])
        #expect(fromFlags.contains("port = 3333\n"))
        #expect(fromFlags.contains("api_keys = [\"k3\"]\n"))
    }

    @Test func shippedConfigFileHoldsExactlyTheDefaults() throws {
        let shipped = Self.repositoryRoot.appendingPathComponent("Config/kiln.toml").path
        let (status, fromFile, errors) = try Self.run(Self.binary, ["serve", "--config", shipped, "--print-config"])
        #expect(status == 0, "\(errors)")
        let (_, defaults, _) = try Self.run(Self.binary, ["serve", "--print-config"])
        #expect(fromFile == defaults)
        // Every setting of the file has a comment above it and a flag in --help.
        let (_, help, _) = try Self.run(Self.binary, ["serve", "--help"])
        let lines = try String(contentsOfFile: shipped, encoding: .utf8).components(separatedBy: "\n")
        var settings = 0
        for (index, line) in lines.enumerated() where line.contains(" = ") && !line.hasPrefix("#") {
            settings += 1
            let name = String(line.split(separator: " ")[0])
            #expect(lines[index - 1].hasPrefix("# "), "\(name) has no comment")
            #expect(help.contains("--" + name.replacingOccurrences(of: "_", with: "-")), "\(name) missing from --help")
            #expect(help.contains("KILN_" + name.uppercased()), "\(name)'s variable missing from --help")
        }
        #expect(settings >= 25)
    }

    @Test func badConfigurationIsAClearError() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-\(UUID().uuidString).toml")
        defer { try? FileManager.default.removeItem(at: file) }
        try "[server]\nport = 80\nhost = unquoted\n".write(to: file, atomically: true, encoding: .utf8)
        let (status, _, errors) = try Self.run(Self.binary, ["serve", "--config", file.path])
        #expect(status != 0)
        #expect(errors.contains(":3:"))
        try "[limits]\nmax_bodies = 3\n".write(to: file, atomically: true, encoding: .utf8)
        let (unknownStatus, _, unknownErrors) = try Self.run(Self.binary, ["serve", "--config", file.path])
        #expect(unknownStatus != 0)
        #expect(unknownErrors.contains("unknown setting limits.max_bodies"))
        let (portStatus, _, portErrors) = try Self.run(Self.binary, ["serve", "--port", "70000"])
        #expect(portStatus != 0)
        #expect(portErrors.contains("port must be between 0 and 65535"))
        let (envStatus, _, envErrors) = try Self.run(Self.binary, ["serve"], environment: ["KILN_SEND_TIMEOUT": "soon"])
        #expect(envStatus != 0)
        #expect(envErrors.contains("KILN_SEND_TIMEOUT"))
        try "[server]\nhost = 1979-05-27\n".write(to: file, atomically: true, encoding: .utf8)
        let (dateStatus, _, dateErrors) = try Self.run(Self.binary, ["serve", "--config", file.path])
        #expect(dateStatus != 0)
        #expect(dateErrors.contains("server.host is a TOML date"))
    }

    /// `model` is a list: repeated `-m` flags, `id=path` entries, and a single string as the file
    /// held it before several models could be served. Errors about the list stop the server with
    /// the reason, before any model file is read.
    @Test func severalModelsAreAListOfPathsOrIdsAndPaths() throws {
        let (status, output, errors) = try Self.run(Self.binary, ["serve", "--print-config", "-m", "a.gguf", "-m", "chat=b.gguf"])
        #expect(status == 0, "\(errors)")
        #expect(output.contains("model = [\"a.gguf\", \"chat=b.gguf\"]\n"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-\(UUID().uuidString).toml")
        defer { try? FileManager.default.removeItem(at: file) }
        try "[model]\nmodel = \"old.gguf\"\nmemory_budget_mb = 900\n".write(to: file, atomically: true, encoding: .utf8)
        let (fileStatus, fromFile, fileErrors) = try Self.run(Self.binary, ["serve", "--config", file.path, "--print-config"])
        #expect(fileStatus == 0, "\(fileErrors)")
        #expect(fromFile.contains("model = [\"old.gguf\"]\n") && fromFile.contains("memory_budget_mb = 900\n"))
        let (budgetStatus, _, budgetErrors) = try Self.run(Self.binary, ["serve", "--memory-budget-mb=-1"])
        #expect(budgetStatus != 0 && budgetErrors.contains("memory_budget_mb must not be negative"))
        let missing = "/nonexistent-\(UUID().uuidString)"
        for (arguments, message) in [
            (["-m", "a=\(missing)/1.gguf", "-m", "a=\(missing)/2.gguf"], "two language models have the id 'a'"),
            (["-m", "\(missing)/1.gguf", "-m", "\(missing)/2.gguf", "--model-name", "x"], "model_name names a single model"),
            (
                ["--models-dir", FileManager.default.temporaryDirectory.appendingPathComponent("kiln-empty-\(UUID().uuidString)").path],
                "cannot read models_dir"
            ),
        ] {
            let (code, _, log) = try Self.run(
                Self.binary, ["serve", "--port", "0", "--image-model", "none", "--embedding-model", "none"] + arguments)
            #expect(code == 1, "\(arguments): \(log)")
            #expect(log.contains(message), "\(arguments): \(log)")
        }
    }

    /// The file is TOML 1.0 (read by TOMLKit): multi-line arrays and literal strings work.
    @Test func configurationFileIsFullTOML() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-\(UUID().uuidString).toml")
        defer { try? FileManager.default.removeItem(at: file) }
        try """
        [security]
        cors_allowed_origins = [
            "https://a.example",  # the first
            'https://b.example',
        ]
        """.write(to: file, atomically: true, encoding: .utf8)
        let (status, output, errors) = try Self.run(Self.binary, ["serve", "--config", file.path, "--print-config"])
        #expect(status == 0, "\(errors)")
        #expect(output.contains("cors_allowed_origins = [\"https://a.example\", \"https://b.example\"]\n"))
    }

    @Test func jsonAccessLogHasOneLinePerRequest() throws {
        let server = try RunningServer(["--port", "0", "--log-format", "json"])
        _ = try Self.run("curl", ["-s", "http://127.0.0.1:\(server.port)/health?probe=1"])
        _ = try Self.run("curl", ["-s", "http://127.0.0.1:\(server.port)/missing"])
        #expect(server.stop() == 0)
        let records = server.log.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(records.count == server.log.split(separator: "\n").count, "every log line is JSON")
        let access = records.filter { $0["label"] as? String == "kiln.access" }
        #expect(access.count == 2)
        #expect(access.first?["method"] as? String == "GET")
        #expect(access.first?["path"] as? String == "/health")
        #expect(access.first?["status"] as? Int == 200)
        #expect(access.first?["bytes"] as? Int == 15)
        #expect(access.first?["duration_ms"] is NSNumber)
        #expect(access.last?["status"] as? Int == 404)
    }

    static let reloadScript = """
        import http.client, os, shutil, signal, ssl, sys, time
        port, pid, cert, key, cert_a, cert_b, key_b, broken = sys.argv[1:9]
        port, pid = int(port), int(pid)
        def context(cafile):
            c = ssl.create_default_context(cafile=cafile)
            return c
        def get(conn):
            conn.request("GET", "/health")
            r = conn.getresponse()
            return r.status, r.read().decode()
        live = http.client.HTTPSConnection("localhost", port, context=context(cert_a), timeout=5)
        results = {"before": get(live)}
        shutil.copy(cert_b, cert); shutil.copy(key_b, key)
        os.kill(pid, signal.SIGHUP); time.sleep(0.5)
        results["live_after_reload"] = get(live)
        results["new_with_b"] = get(http.client.HTTPSConnection("localhost", port, context=context(cert_b), timeout=5))
        try:
            get(http.client.HTTPSConnection("localhost", port, context=context(cert_a), timeout=5))
            results["new_with_a"] = "accepted"
        except ssl.SSLError:
            results["new_with_a"] = "rejected"
        shutil.copy(broken, cert)
        os.kill(pid, signal.SIGHUP); time.sleep(0.5)
        results["after_broken_reload"] = get(http.client.HTTPSConnection("localhost", port, context=context(cert_b), timeout=5))
        print(results)
        """

    @Test func sighupReloadsTheCertificateAndKeepsTheOldOneWhenTheNewIsBroken() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func makePair(_ name: String) throws -> (String, String) {
            let cert = directory.appendingPathComponent("\(name).crt").path, key = directory.appendingPathComponent("\(name).key").path
            let (status, _, errors) = try Self.run(
                "openssl",
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost",
                ])
            guard status == 0 else { throw TestError(errors) }
            return (cert, key)
        }
        let (certA, keyA) = try makePair("a")
        let (certB, keyB) = try makePair("b")
        let liveCert = directory.appendingPathComponent("live.crt").path, liveKey = directory.appendingPathComponent("live.key").path
        try FileManager.default.copyItem(atPath: certA, toPath: liveCert)
        try FileManager.default.copyItem(atPath: keyA, toPath: liveKey)
        let broken = directory.appendingPathComponent("broken.crt").path
        try "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n".write(toFile: broken, atomically: true, encoding: .utf8)

        let server = try RunningServer(["--port", "0", "--tls-cert", liveCert, "--tls-key", liveKey])
        let (status, output, errors) = try Self.run(
            "python3",
            [
                "-c", Self.reloadScript, String(server.port),
                String(server.process.processIdentifier), liveCert, liveKey,
                certA, certB, keyB, broken,
            ])
        #expect(status == 0, "\(errors)")
        #expect(output.contains("'before': (200, '{\"status\":\"ok\"}')"))
        #expect(output.contains("'live_after_reload': (200,"))
        #expect(output.contains("'new_with_b': (200,"))
        #expect(output.contains("'new_with_a': 'rejected'"))
        #expect(output.contains("'after_broken_reload': (200,"))
        #expect(server.stop() == 0)
        #expect(server.log.contains("TLS certificate reloaded"))
        #expect(server.log.contains("TLS reload failed; keeping the previous certificate"))
    }
}
