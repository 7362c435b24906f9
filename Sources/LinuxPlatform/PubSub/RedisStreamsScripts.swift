import WispCommon

/// The Lua scripts of ``RedisStreams`` and the commands and replies around them. Each topic has three names with
/// the same hash tag, so that they live in one slot of a Redis Cluster: the stream `PREFIX{TOPIC}:s` (entry IDs
/// `POSITION-MILLISECONDS`, fields `t` type and `d` payload), the hash `PREFIX{TOPIC}:m` (`e` epoch, `n` latest
/// position, `p:PUBLISHER` each publisher's last sequence number) and the shard channel `PREFIX{TOPIC}`.
enum RedisStreamsScripts {
  /// Trims entries older than `maxage` ms (at most 3,200 per call; the rest the next time), by the milliseconds
  /// in their IDs.
  private static let trimByAge = """
    local function trim_age(stream, maxage, now)
      if maxage <= 0 then return end
      for _ = 1, 100 do
        local old = redis.call('XRANGE', stream, '-', '+', 'COUNT', 32)
        if #old == 0 then return end
        for index, entry in ipairs(old) do
          local at = tonumber(string.match(entry[1], '%-(%d+)$'))
          if now - at <= maxage then
            if index > 1 then redis.call('XTRIM', stream, 'MINID', entry[1]) end
            return
          end
        end
        local last = tonumber(string.match(old[#old][1], '^(%d+)%-'))
        redis.call('XTRIM', stream, 'MINID', string.format('%d-0', last + 1))
      end
    end
    local function epoch_of(stream, meta, candidate)
      local epoch = redis.call('HGET', meta, 'e')
      if not epoch then
        epoch = candidate
        redis.call('DEL', stream)
        redis.call('HSET', meta, 'e', epoch, 'n', 0)
        return epoch, true
      end
      return epoch, false
    end
    local function now_ms()
      local time = redis.call('TIME')
      return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
    end

    """

  /// Appends a message exactly once and in its publisher's order: the sequence numbers of one publisher in one
  /// topic go 1, 2, 3…; a number already recorded is a repeat (sent again after a lost connection: position -1);
  /// one that skips ahead is refused with `TRYAGAIN` (an earlier one met a passing error such as `LOADING` and
  /// will come again first), unless the topic's history is new (lost meanwhile). Then trims, and publishes it on the
  /// shard channel as `W2 EPOCH POSITION TYPE PUBLISHER SEQUENCE\n` + payload.
  /// KEYS: stream, meta, channel. ARGV: candidate epoch, publisher, sequence, type, payload, max count, max age ms.
  static let append =
    trimByAge + """
      local stream, meta, channel = KEYS[1], KEYS[2], KEYS[3]
      local epoch, fresh = epoch_of(stream, meta, ARGV[1])
      local last = tonumber(redis.call('HGET', meta, 'p:' .. ARGV[2]) or '0')
      local sequence = tonumber(ARGV[3])
      if sequence <= last then return {epoch, -1} end
      if sequence > last + 1 and not fresh then
        return redis.error_reply('TRYAGAIN out of order: ' .. ARGV[3] .. ' after ' .. last)
      end
      redis.call('HSET', meta, 'p:' .. ARGV[2], ARGV[3])
      local n = redis.call('HINCRBY', meta, 'n', 1)
      local now = now_ms()
      local maxlen = tonumber(ARGV[6])
      if maxlen > 0 then
        redis.call('XADD', stream, 'MAXLEN', '~', maxlen, string.format('%d-%d', n, now), 't', ARGV[4], 'd', ARGV[5])
        trim_age(stream, tonumber(ARGV[7]), now)
      end
      redis.call('SPUBLISH', channel,
        'W2 ' .. epoch .. ' ' .. string.format('%d', n) .. ' ' .. ARGV[4] .. ' ' .. ARGV[2] .. ' ' .. ARGV[3] .. '\\n' .. ARGV[5])
      return {epoch, n}
      """

  /// Reads the history: `{epoch, latest, oldest, {position, type, payload, ...}}`. KEYS: stream, meta. ARGV: after
  /// (empty: no entries, only where the history stands), limit, max age ms, candidate epoch.
  static let read =
    trimByAge + """
      local stream, meta = KEYS[1], KEYS[2]
      local epoch = epoch_of(stream, meta, ARGV[4])
      local latest = tonumber(redis.call('HGET', meta, 'n'))
      trim_age(stream, tonumber(ARGV[3]), now_ms())
      local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
      local oldest = latest + 1
      if #first > 0 then oldest = tonumber(string.match(first[1][1], '^(%d+)%-')) end
      local out = {}
      if ARGV[1] ~= '' then
        local after = tonumber(ARGV[1])
        local entries = redis.call('XRANGE', stream, string.format('%d', after + 1), '+', 'COUNT', tonumber(ARGV[2]))
        for _, entry in ipairs(entries) do
          local fields = entry[2]
          local kind, data = '2', ''
          for index = 1, #fields, 2 do
            if fields[index] == 't' then kind = fields[index + 1] elseif fields[index] == 'd' then data = fields[index + 1] end
          end
          out[#out + 1] = tonumber(string.match(entry[1], '^(%d+)%-'))
          out[#out + 1] = kind
          out[#out + 1] = data
        end
      end
      return {epoch, latest, oldest, out}
      """

  /// The three names of `topic`.
  static func names(of topic: String, prefix: String) -> (stream: [UInt8], meta: [UInt8], channel: [UInt8]) {
    let channel = Array("\(prefix){\(topic)}".utf8)
    return (channel + Array(":s".utf8), channel + Array(":m".utf8), channel)
  }

  /// The largest position sent to a script (Lua numbers are doubles: exact to 2^53).
  static let largestPosition: UInt64 = 1 << 52

  /// The page in a reply of ``read``.
  static func page(from reply: RESPValue) throws(PubSubError) -> TopicHistoryPage {
    guard case .array(let items?) = reply, items.count == 4, let epoch = items[0].string,
      case .integer(let latest) = items[1], case .integer(let oldest) = items[2], case .array(let flat?) = items[3],
      flat.count % 3 == 0, latest >= 0, oldest >= 1
    else { throw .protocolViolation("unexpected reply to the history read: \(reply)") }
    var entries: [TopicHistoryPage.Entry] = []
    entries.reserveCapacity(flat.count / 3)
    for index in stride(from: 0, to: flat.count, by: 3) {
      guard case .integer(let position) = flat[index], position > 0, let payload = flat[index + 2].bytes else {
        throw .protocolViolation("malformed history entry")
      }
      let message: TopicMessage =
        flat[index + 1].string == "1" ? .text(bytes: payload) : .binary(payload)
      entries.append(TopicHistoryPage.Entry(position: UInt64(position), message: message))
    }
    return TopicHistoryPage(epoch: epoch, entries: entries, oldest: UInt64(oldest), latest: UInt64(latest))
  }

  /// A message from the shard channel.
  struct LiveMessage {
    var offset: TopicOffset
    var message: TopicMessage
    var publisher: String
    var sequence: UInt64
  }

  /// Parses `W2 EPOCH POSITION TYPE PUBLISHER SEQUENCE\n` + payload; `nil` for anything else.
  static func liveMessage(_ bytes: [UInt8]) -> LiveMessage? {
    guard bytes.starts(with: Array("W2 ".utf8)), let newline = bytes.prefix(256).firstIndex(of: 10) else { return nil }
    let fields = String(decoding: bytes[3..<newline], as: UTF8.self).split(separator: " ")
    guard fields.count == 5, TopicOffset.isValidEpoch(fields[0]), let position = UInt64(fields[1]),
      let sequence = UInt64(fields[4]), fields[2] == "1" || fields[2] == "2"
    else { return nil }
    let payload = Array(bytes[(newline + 1)...])
    return LiveMessage(
      offset: TopicOffset(epoch: String(fields[0]), position: position),
      message: fields[2] == "1" ? .text(bytes: payload) : .binary(payload), publisher: String(fields[3]),
      sequence: sequence)
  }
}
