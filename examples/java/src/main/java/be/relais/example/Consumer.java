// Relais reference consumer (Java, the Apache Kafka client): reads a CPAS's notifications with
// the connection bundle `relaisctl cpas onboard` wrote. See docs/subscribers.md.
//
//   ./run.sh --bundle DIR [--topic T] [--group G] [--max N] [--idle S] [--seen FILE] [--json]
//
// - client.properties is loaded as is (read_committed, no auto-commit, the application's group;
//   the librdkafka-only keys are ignored by the client with a warning);
// - each record is decoded as relais.v1.RoutedNotification (classes generated from proto/ by
//   protoc in build.sh);
// - processed, then its offset committed (commitSync): a crash in between re-delivers the
//   record, never loses it;
// - de-duplicated on the `ticket` header with the key (the SSIN); --seen FILE keeps the keys
//   processed (an application keeps them in its database, in the processing's transaction).
//
// Exit codes as the Python consumer: 0 done, 1 refused or failed, 2 usage error, 3 --idle passed
// before --max records came.
package be.relais.example;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import relais.v1.Records.RoutedNotification;

public final class Consumer {
  private Consumer() {}

  static Properties loadBundle(Path bundle) throws IOException {
    Properties p = new Properties();
    try (InputStream in = Files.newInputStream(bundle.resolve("client.properties"))) {
      p.load(in);
    }
    for (String k : List.of("ssl.truststore.location", "ssl.ca.location")) {
      String v = p.getProperty(k);
      if (v != null && !Path.of(v).isAbsolute()) p.setProperty(k, bundle.resolve(v).toString());
    }
    // keys only librdkafka knows: dropped here to keep the client's log quiet
    for (String k : List.of("sasl.username", "sasl.password", "ssl.ca.location")) p.remove(k);
    p.put("key.deserializer", ByteArrayDeserializer.class.getName());
    p.put("value.deserializer", ByteArrayDeserializer.class.getName());
    return p;
  }

  static String header(ConsumerRecord<byte[], byte[]> r, String name) {
    Header h = r.headers().lastHeader(name);
    return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  static String json(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }

  public static void main(String[] args) throws Exception {
    Path bundle = null, seenFile = null;
    String topic = null, group = null;
    int max = 0;
    double idle = 0;
    boolean asJson = false;
    try {
      for (int i = 0; i < args.length; i++) {
        switch (args[i]) {
          case "--bundle" -> bundle = Path.of(args[++i]);
          case "--topic" -> topic = args[++i];
          case "--group" -> group = args[++i];
          case "--max" -> max = Integer.parseInt(args[++i]);
          case "--idle" -> idle = Double.parseDouble(args[++i]);
          case "--seen" -> seenFile = Path.of(args[++i]);
          case "--json" -> asJson = true;
          default -> throw new IllegalArgumentException("unknown option " + args[i]);
        }
      }
      if (bundle == null) throw new IllegalArgumentException("--bundle DIR is required");
    } catch (RuntimeException e) {
      System.err.println("consumer: " + e.getMessage());
      System.exit(2);
    }
    Properties props = loadBundle(bundle);
    String cbe = props.getProperty("group.id").split("\\.")[1];
    if (topic == null) topic = "cpas." + cbe + ".notifications.v1";
    if (group != null) props.setProperty("group.id", group);
    Set<String> seen = new HashSet<>();
    if (seenFile != null && Files.exists(seenFile)) seen.addAll(Files.readAllLines(seenFile));

    int done = 0;
    long last = System.nanoTime();
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props)) {
      c.subscribe(List.of(topic));
      while (!(max > 0 && done >= max) && !(idle > 0 && (System.nanoTime() - last) / 1e9 > idle)) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
          last = System.nanoTime();
          String ticket = header(r, "ticket"), key = r.key() == null ? "" : new String(r.key(), StandardCharsets.UTF_8);
          if (seen.add(ticket + " " + key)) {
            if (seenFile != null)
              Files.writeString(seenFile, ticket + " " + key + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            process(RoutedNotification.parseFrom(r.value()), r, ticket, asJson);
          }
          // after processing: the next offset of this partition
          c.commitSync(Map.of(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1)));
          if (++done >= max && max > 0) break;
        }
      }
    } catch (KafkaException e) {
      System.err.println("consumer: refused: " + e.getClass().getSimpleName() + ": " + e.getMessage());
      System.exit(1);
    }
    if (max > 0 && done < max) {
      System.err.println("consumer: " + done + " record(s), fewer than --max " + max);
      System.exit(3);
    }
  }

  // What an application does with a record: here, print it.
  static void process(RoutedNotification n, ConsumerRecord<byte[], byte[]> r, String ticket, boolean asJson) {
    var env = n.getNotification().getEnvelope();
    String body = n.getNotification().getBodyCase().name().toLowerCase();
    if (asJson) {
      System.out.println("{\"topic\": " + json(r.topic()) + ", \"partition\": " + r.partition() + ", \"offset\": "
          + r.offset() + ", \"ticket\": " + json(ticket) + ", \"flow\": " + json(header(r, "flow"))
          + ", \"replay\": " + json(header(r, "replay")) + ", \"cpas\": " + json(n.getCpasCbe()) + ", \"ssin\": "
          + json(env.getSsin()) + ", \"body\": " + json(body) + ", \"quality_code\": "
          + n.getIntegration().getQualityCode() + "}");
    } else {
      System.out.println(ticket + " " + header(r, "flow") + " ssin " + env.getSsin() + " (cpas " + n.getCpasCbe()
          + ", quality " + n.getIntegration().getQualityCode() + ")");
    }
    System.out.flush();
  }
}
