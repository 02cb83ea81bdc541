// A Spark program in Java for the cluster-mode tests of tests/api/spark.rs (compiled there with
// javac against the jars of the pyspark package).
//
//     Probe RESULTS SECONDS [FAILURE]
//
// Counts 1,000 rows on the cluster, sleeps SECONDS (so a test can abort it or restart the
// service meanwhile), writes RESULTS/count.txt, then throws FAILURE if given.
import java.nio.file.Files;
import java.nio.file.Path;

import org.apache.spark.sql.SparkSession;

public class Probe {
    public static void main(String[] args) throws Exception {
        SparkSession spark = SparkSession.builder().getOrCreate();
        long count = spark.range(0, 1000, 1, 4).count();
        Thread.sleep(Long.parseLong(args[1]) * 1000L);
        Files.writeString(Path.of(args[0], "count.txt"), "count " + count + "\n");
        spark.stop();
        if (args.length > 2) {
            throw new IllegalStateException("probe failed on request: " + args[2]);
        }
    }
}
