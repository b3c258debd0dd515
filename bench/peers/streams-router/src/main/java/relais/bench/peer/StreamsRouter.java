package relais.bench.peer;

import java.nio.file.Files;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

import com.google.protobuf.InvalidProtocolBufferException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.ValueAndTimestamp;

import relais.bench.peer.v1.Directory.DirectoryEntry;
import relais.v1.Records.Notification;
import relais.v1.Records.RoutedNotification;

/**
 * relais-router's routing job as a Kafka Streams application, for the benchmarks
 * (docs/performance.md, "Kafka Streams peer"): reads relais.inbound.v1, looks every
 * notification up in the directory (a GlobalKTable over bench.peer.directory.v1, one record per
 * number with its integration lines and validity periods), applies the decision of
 * libs/routing and writes one RoutedNotification per target CPAS to
 * {@code <prefix><cbe>.notifications.v1}, with processing.guarantee=exactly_once_v2.
 *
 * <p>Options ({@code --name value}): brokers, application-id, inbound-topic, directory-topic,
 * output-prefix, state-dir, threads, client-config (a properties file applied to every client, e.g.
 * SASL settings). Runs until SIGTERM, then prints its counters as one JSON
 * line.
 */
public final class StreamsRouter {
  static final String DIRECTORY_STORE = "peer-directory";

  static final AtomicLong consumed = new AtomicLong();
  static final AtomicLong routed = new AtomicLong();
  static final AtomicLong notIntegrated = new AtomicLong();
  static final AtomicLong outsidePeriod = new AtomicLong();
  static final AtomicLong undecodable = new AtomicLong();

  /** A routed record and the topic it goes to (the sink's topic name extractor reads it). */
  record Routed(String topic, byte[] value) {}

  static final class RouteProcessor implements FixedKeyProcessor<String, byte[], Routed> {
    private final String prefix;
    private FixedKeyProcessorContext<String, Routed> context;
    private KeyValueStore<String, ValueAndTimestamp<byte[]>> directory;
    private final Map<String, DirectoryEntry> seen = new HashMap<>();

    RouteProcessor(String prefix) {
      this.prefix = prefix;
    }

    @Override
    public void init(FixedKeyProcessorContext<String, Routed> context) {
      this.context = context;
      this.directory = context.getStateStore(DIRECTORY_STORE);
    }

    private DirectoryEntry lookup(String ssin) {
      if (seen.containsKey(ssin)) return seen.get(ssin);
      ValueAndTimestamp<byte[]> v = directory.get(ssin);
      DirectoryEntry e = null;
      if (v != null && v.value() != null) {
        try {
          e = DirectoryEntry.parseFrom(v.value());
        } catch (InvalidProtocolBufferException ex) {
          throw new IllegalStateException("bad directory record for " + ssin, ex);
        }
      }
      seen.put(ssin, e);
      return e;
    }

    @Override
    public void process(FixedKeyRecord<String, byte[]> record) {
      consumed.incrementAndGet();
      Notification n;
      try {
        n = Notification.parseFrom(record.value());
      } catch (InvalidProtocolBufferException e) {
        undecodable.incrementAndGet();
        return;
      }
      var env = n.getEnvelope();
      seen.clear();
      Routing.Decision d = Routing.decide(env.getSsin(), env.getReplacesSsin(), env.getEffectiveDate(), this::lookup);
      if (d.targets.isEmpty()) {
        (d.drop == Routing.Drop.OUTSIDE_PERIOD ? outsidePeriod : notIntegrated).incrementAndGet();
        return;
      }
      long now = System.currentTimeMillis() * 1000;
      for (Routing.Target t : d.targets) {
        RoutedNotification r = RoutedNotification.newBuilder()
            .setNotification(n)
            .setCpasCbe(t.cpasCbe())
            .setIntegration(t.integration())
            .setRoutedAtUs(now)
            .build();
        // The inbound record's headers (flow, ticket, content-type) go along, as in relais-router.
        context.forward(record.withValue(new Routed(prefix + t.cpasCbe() + ".notifications.v1", r.toByteArray())));
        routed.incrementAndGet();
      }
    }
  }

  static Topology topology(String inbound, String directoryTopic, String prefix) {
    StreamsBuilder b = new StreamsBuilder();
    b.globalTable(directoryTopic, Consumed.with(Serdes.String(), Serdes.ByteArray()),
        Materialized.<String, byte[], KeyValueStore<Bytes, byte[]>>as(DIRECTORY_STORE));
    Serde<Routed> routedSerde = Serdes.serdeFrom((topic, r) -> r.value(), (topic, bytes) -> {
      throw new UnsupportedOperationException("write only");
    });
    b.stream(inbound, Consumed.with(Serdes.String(), Serdes.ByteArray()))
        .processValues(() -> new RouteProcessor(prefix))
        .to((key, value, ctx) -> value.topic(), Produced.with(Serdes.String(), routedSerde));
    return b.build();
  }

  static String counters() {
    return String.format("{\"consumed\": %d, \"routed\": %d, \"not_integrated\": %d, \"outside_period\": %d, "
        + "\"undecodable\": %d}", consumed.get(), routed.get(), notIntegrated.get(), outsidePeriod.get(),
        undecodable.get());
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> opt = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (!args[i].startsWith("--")) throw new IllegalArgumentException("expected --name value: " + args[i]);
      opt.put(args[i].substring(2), args[i + 1]);
    }
    String stateDir = opt.containsKey("state-dir") ? opt.get("state-dir")
        : Files.createTempDirectory("relais-streams-router").toString();
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, opt.getOrDefault("application-id", "relais-bench-peer"));
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, opt.getOrDefault("brokers", "127.0.0.1:59092"));
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(opt.getOrDefault("threads", "1")));
    p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    if (opt.containsKey("client-config")) {
      try (var in = Files.newBufferedReader(java.nio.file.Path.of(opt.get("client-config")))) {
        Properties c = new Properties();
        c.load(in);
        p.putAll(c);
      }
    }
    Topology t = topology(opt.getOrDefault("inbound-topic", "relais.inbound.v1"),
        opt.getOrDefault("directory-topic", "bench.peer.directory.v1"),
        opt.getOrDefault("output-prefix", "peer.cpas."));
    KafkaStreams streams = new KafkaStreams(t, p);
    CountDownLatch done = new CountDownLatch(1);
    streams.setStateListener((now, before) -> {
      System.out.println("{\"state\": \"" + now + "\", \"at_ms\": " + System.currentTimeMillis() + "}");
      if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) done.countDown();
    });
    streams.setUncaughtExceptionHandler(e -> {
      e.printStackTrace();
      return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(30));
      System.out.println(counters());
      System.out.flush();
    }));
    streams.start();
    done.await();
    System.exit(streams.state() == KafkaStreams.State.ERROR ? 1 : 0);
  }
}
