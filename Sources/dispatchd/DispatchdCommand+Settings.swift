import ArgumentParser
import DConfig
import DMaster

/// From the flags (and the files and environment that give more of them) to the one checked
/// ServerConfiguration.
extension DispatchdCommand {
    /// The configuration the files, the environment and these flags describe, checked; a
    /// ValidationError lists every problem. With --print-config, also what came from where.
    func serverConfiguration() throws -> ServerConfiguration {
        let files = try ConfigSources.files(ini: ini, yaml: yaml)
        let bindGiven = hasListeners || files.contains { $0.0.hasListeners }
        let environment = try ConfigSources.environment(bindGiven: bindGiven)
        var b = ConfigurationBuilder(host: SystemHost())
        for (command, _) in files { try command.applySettings(to: &b) }
        try environment.0.applySettings(to: &b)
        try applySettings(to: &b)
        guard let config = b.build() else {
            // ArgumentParser prints "Error: " before the message: one line per problem.
            throw ValidationError(b.errors.map { $0.message(spelling: Self.spelling) }.joined(separator: "\nError: "))
        }
        if printConfig {
            Self.printConfiguration(config, origins: files.flatMap(\.1) + environment.1)
            throw ExitCode.success
        }
        return config
    }

    /// Whether these flags give any listener (else the environment's PORT may).
    var hasListeners: Bool { !(bind + peers.httpAddresses + https + socket).isEmpty }

    /// Sets on `b` what these flags give (nothing for a flag not given: an earlier source's
    /// value stays).
    func applySettings(to b: inout ConfigurationBuilder) throws {
        if let app { b.setApplication(app) }
        b.set(\.application.wsgiFile, wsgiFile)
        b.set(\.application.callable, callable)
        b.set(\.application.chdir, chdir)
        b.set(\.application.pythonPath, pythonPath.isEmpty ? nil : pythonPath)
        b.set(\.application.virtualenv, virtualenv)
        b.setListeners(http: bind + peers.httpAddresses, https: https, uwsgi: socket)
        b.setTLS(certificate: certfile, key: keyfile, ciphers: ciphers)
        b.setForwardedAllowIPs(forwardedAllowIps)
        b.setStats(stats)
        b.set(\.listeners.proxyProtocol, proxyProtocol ? true : nil)
        b.set(\.listeners.backlog, backlog)
        b.set(\.workers.count, workers)
        b.set(\.workers.threads, threads)
        b.set(\.workers.gracefulTimeout, gracefulTimeout)
        b.set(\.workers.stopTimeout, workerStopTimeout)
        b.set(\.workers.shutdownDelay, shutdownDelay)
        b.set(\.workers.reloadBatch, reloadBatch)
        b.set(\.workers.maxRequests, maxRequests)
        b.set(\.workers.maxRequestsJitter, maxRequestsJitter)
        b.set(\.workers.maxLifetime, maxWorkerLifetime)
        b.set(\.workers.maxLifetimeJitter, maxWorkerLifetimeJitter)
        b.set(\.workers.reloadOnRSS, reloadOnRss)
        b.set(\.workers.preload, preload ? true : nil)
        b.setAcceptMode(acceptMode)
        b.set(\.webSocket.drainTimeout, websocketDrainTimeout)
        b.set(\.development.reload, reload ? true : nil)
        b.set(\.development.reloadExtraFiles, reloadExtraFile.isEmpty ? nil : reloadExtraFile)
        b.set(\.logging.accessLog, noAccessLog ? false : nil)
        b.set(\.logging.accessLogFile, accessLogFile)
        b.set(\.logging.errorLogFile, errorLogFile)
        b.setAccessLogFormat(accessLogFormat)
        b.setLogLevel(logLevel)
        b.set(\.limits.requestLine, limitRequestLine)
        b.set(\.limits.fieldSize, limitRequestFieldSize)
        b.set(\.limits.fieldCount, limitRequestFields)
        b.set(\.limits.headSize, limitRequestHead)
        b.setRequestBodyLimit(limitRequestBody)
        b.set(\.timeouts.keepAlive, keepAlive)
        b.set(\.timeouts.header, headerTimeout)
        b.set(\.timeouts.body, bodyTimeout)
        b.set(\.timeouts.write, writeTimeout)
        b.setRequestTimeout(timeout)
        b.set(\.timeouts.requestGrace, timeoutGrace)
        b.set(\.bodies.bufferSize, bodyBufferSize)
        b.set(\.bodies.spoolDirectory, bodySpoolDir)
        b.set(\.bodies.memoryMax, bodyMemoryMax)
        b.set(\.bodies.spoolMax, bodySpoolMax)
        b.setSpoolMinFree(bodySpoolMinFree)
        b.set(\.webSocket.maxMessage, websocketMaxMessage)
        b.set(\.webSocket.pingInterval, websocketPingInterval)
        b.set(\.webSocket.pingTimeout, websocketPingTimeout)
        b.set(\.webSocket.sendQueue, websocketSendQueue)
        b.set(\.webSocket.deflateMemory, websocketDeflateMemory)
        b.setChannels(channels)
        b.set(\.compatibility.uwsgi, uwsgiCompat ? true : nil)
        b.setStaticMaps(staticMap)
        b.set(\.statics.index, staticIndex)
        b.set(\.statics.fallThrough, staticFallthrough ? true : nil)
        b.setStaticExpires(staticExpires)
        b.set(\.statics.followSymlinks, staticFollowSymlinks ? true : nil)
        b.set(\.statics.dotfiles, staticDotfiles ? true : nil)
        try peers.apply(to: &b, app: app)
    }
}
