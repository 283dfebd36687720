extension ServerConfiguration {
    /// Every problem that needs no file system, each naming its setting.
    public func validate() -> [ConfigError] {
        var errors: [ConfigError] = []
        func atLeast(_ minimum: Int, _ setting: Setting, _ value: Int) {
            if value < minimum {
                errors.append(ConfigError(setting, .tooSmall(minimum: String(minimum), got: String(value))))
            }
        }
        func positiveSeconds(_ setting: Setting, _ value: Double) {
            if !(value > 0 && value.isFinite) {
                errors.append(ConfigError(setting, .notPositiveSeconds(got: String(value))))
            }
        }
        /// A duration where 0 means something (at once, or off).
        func nonNegativeSeconds(_ setting: Setting, _ value: Double) {
            if !value.isFinite {
                errors.append(ConfigError(setting, .invalid(String(value), reason: "is not a number of seconds")))
            } else if value < 0 {
                errors.append(ConfigError(setting, .tooSmall(minimum: "0", got: String(value))))
            }
        }
        switch (application.module, application.wsgiFile) {
        case (nil, nil): errors.append(ConfigError(.app, .missing(alternative: .wsgiFile)))
        case (_?, _?): errors.append(ConfigError(.app, .conflicts(with: .wsgiFile)))
        default: break
        }
        if application.callable.isEmpty { errors.append(ConfigError(.callable, .invalid("", reason: "is not a name"))) }
        atLeast(1, .workers, workers.count)
        atLeast(1, .threads, workers.threads)
        atLeast(1, .backlog, listeners.backlog)
        atLeast(1, .reloadBatch, workers.reloadBatch)
        atLeast(0, .maxRequests, workers.maxRequests)
        atLeast(0, .maxRequestsJitter, workers.maxRequestsJitter)
        atLeast(0, .reloadOnRSS, workers.reloadOnRSS)
        nonNegativeSeconds(.shutdownDelay, workers.shutdownDelay)
        nonNegativeSeconds(.maxWorkerLifetime, workers.maxLifetime)
        nonNegativeSeconds(.maxWorkerLifetimeJitter, workers.maxLifetimeJitter)
        positiveSeconds(.websocketDrainTimeout, webSocket.drainTimeout)
        nonNegativeSeconds(.gracefulTimeout, workers.gracefulTimeout)
        positiveSeconds(.workerStopTimeout, workers.stopTimeout)
        atLeast(1, .limitRequestLine, limits.requestLine)
        atLeast(1, .limitRequestFieldSize, limits.fieldSize)
        atLeast(1, .limitRequestFields, limits.fieldCount)
        atLeast(1, .limitRequestHead, limits.headSize)
        if let limit = bodies.limit { atLeast(0, .limitRequestBody, limit) }
        atLeast(0, .bodyBufferSize, bodies.bufferSize)
        atLeast(0, .bodyMemoryMax, bodies.memoryMax)
        atLeast(0, .bodySpoolMax, bodies.spoolMax)
        positiveSeconds(.keepAlive, timeouts.keepAlive)
        positiveSeconds(.headerTimeout, timeouts.header)
        positiveSeconds(.bodyTimeout, timeouts.body)
        positiveSeconds(.writeTimeout, timeouts.write)
        if let request = timeouts.request { nonNegativeSeconds(.timeout, request) }
        nonNegativeSeconds(.timeoutGrace, timeouts.requestGrace)
        atLeast(1, .websocketMaxMessage, webSocket.maxMessage)
        positiveSeconds(.websocketPingInterval, webSocket.pingInterval)
        positiveSeconds(.websocketPingTimeout, webSocket.pingTimeout)
        atLeast(1024, .websocketSendQueue, webSocket.sendQueue)
        atLeast(0, .websocketDeflateMemory, webSocket.deflateMemory)
        if let index = statics.index, index.isEmpty || index.contains("/") {
            errors.append(ConfigError(.staticIndex, .invalid(index, reason: "must be a file name")))
        }
        return errors
    }

    /// Checks the directories on `host`. Static maps and the spool directory become absolute:
    /// they are relative to where the server was started, and workers run after the master's
    /// --chdir.
    public mutating func resolvePaths(on host: some ConfigHost) -> [ConfigError] {
        var errors: [ConfigError] = []
        func directory(_ setting: Setting, _ path: String) -> String? {
            guard host.isDirectory(path), let real = host.realpath(path) else {
                errors.append(ConfigError(setting, .notADirectory(path)))
                return nil
            }
            return real
        }
        if let chdir = application.chdir { _ = directory(.chdir, chdir) }
        if let venv = application.virtualenv { _ = directory(.virtualenv, venv) }
        if let spool = directory(.bodySpoolDir, bodies.spoolDirectory) { bodies.spoolDirectory = spool }
        // Watched from the master after its --chdir: made absolute here.
        development.reloadExtraFiles = development.reloadExtraFiles.map { host.realpath($0) ?? $0 }
        for i in statics.maps.indices {
            if let real = directory(.staticMap, statics.maps[i].directory) { statics.maps[i].directory = real }
        }
        return errors
    }
}
