package relais.bench.peer;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

import relais.bench.peer.v1.Directory.DirectoryEntry;
import relais.v1.Records.Integration;

/**
 * The routing decision of libs/routing ({@code routing::decide}), over the directory as the
 * peer holds it (one {@link DirectoryEntry} per number): every CPAS with an integration line of
 * the person (the SSIN, the SSIN it replaces, and every number linked to them by a recorded
 * replacement, both directions, at most 16 numbers) whose period contains the effective date
 * (start and end inclusive, empty end = open). One target per CPAS; when a CPAS holds several
 * covering lines, the one that started last wins, then the lowest quality code.
 */
final class Routing {
  static final int MAX_RELATED = 16;

  record Target(String cpasCbe, Integration integration) {}

  enum Drop { NONE, NOT_INTEGRATED, OUTSIDE_PERIOD }

  static final class Decision {
    final List<Target> targets = new ArrayList<>(2);
    Drop drop = Drop.NONE;
  }

  private Routing() {}

  /** Numbers designating the same person as {@code ssin}, {@code ssin} first (breadth first). */
  static void related(String ssin, Function<String, DirectoryEntry> lookup, List<String> out) {
    out.add(ssin);
    for (int i = 0; i < out.size() && out.size() < MAX_RELATED; ++i) {
      DirectoryEntry e = lookup.apply(out.get(i));
      if (e == null) continue;
      for (String s : e.getRelatedList())
        if (!out.contains(s)) out.add(s);
    }
  }

  /** {@code effectiveDate}, start and end dates are ISO YYYY-MM-DD: they compare as strings. */
  static Decision decide(String ssin, String replacesSsin, String effectiveDate,
                         Function<String, DirectoryEntry> lookup) {
    List<String> numbers = new ArrayList<>(2);
    related(ssin, lookup, numbers);
    if (!replacesSsin.isEmpty() && !replacesSsin.equals(ssin)) {
      List<String> more = new ArrayList<>(2);
      related(replacesSsin, lookup, more);
      for (String n : more)
        if (!numbers.contains(n)) numbers.add(n);
    }
    Decision d = new Decision();
    boolean any = false;
    for (String n : numbers) {
      DirectoryEntry e = lookup.apply(n);
      if (e == null) continue;
      for (Integration line : e.getLinesList()) {
        any = true;
        if (line.getStartDate().compareTo(effectiveDate) > 0) continue;
        if (!line.getEndDate().isEmpty() && line.getEndDate().compareTo(effectiveDate) < 0) continue;
        int at = -1;
        for (int i = 0; i < d.targets.size(); ++i)
          if (d.targets.get(i).cpasCbe().equals(line.getCpasCbe())) at = i;
        if (at < 0) {
          d.targets.add(new Target(line.getCpasCbe(), line));
          continue;
        }
        Integration best = d.targets.get(at).integration();
        int c = line.getStartDate().compareTo(best.getStartDate());
        if (c > 0 || (c == 0 && line.getQualityCode() < best.getQualityCode()))
          d.targets.set(at, new Target(line.getCpasCbe(), line));
      }
    }
    if (d.targets.isEmpty()) d.drop = any ? Drop.OUTSIDE_PERIOD : Drop.NOT_INTEGRATED;
    return d;
  }
}
