import java.nio.file.Path;
import java.nio.file.Paths;

import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.TensorFlow;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.framework.MetaGraphDef;
import org.tensorflow.proto.framework.SignatureDef;
import org.tensorflow.proto.framework.TensorInfo;
import org.tensorflow.types.TFloat32;

/**
 * Runs TensorFlow SavedModels the way deepImageJ 3 does through JDLL's TensorFlow 2 engine
 * (bioimage-io/tensorflow-2-java-interface), with TensorFlow for Java 0.5.0 (TensorFlow
 * 2.10.1): {@code SavedModelBundle.load(dir, "serve")}, the {@code serving_default}
 * signature parsed from the bundle's MetaGraphDef, the signature's first input fed and its
 * first output fetched by operation name on the bundle's session.
 *
 * <p>Usage: {@code RunSavedModelTF2 MODEL_DIR INPUT.npy OUTPUT.npy [MODEL_DIR INPUT.npy OUTPUT.npy ...]}.
 * Prints one JSON line per model: {@code ok}, load and run milliseconds, the signature's
 * tensor names, or the error the runtime gave. Exit status 0 once every model was tried.
 */
public final class RunSavedModelTF2 {
    private static final String TAG = "serve";
    private static final String SIGNATURE = "serving_default";

    public static void main(String[] args) throws Exception {
        if (args.length == 0 || args.length % 3 != 0) {
            System.err.println("usage: RunSavedModelTF2 MODEL_DIR INPUT.npy OUTPUT.npy [...]");
            System.exit(2);
        }
        for (int i = 0; i < args.length; i += 3) {
            System.out.println(run(args[i], Paths.get(args[i + 1]), Paths.get(args[i + 2])));
            System.out.flush();
        }
    }

    private static String run(String modelDir, Path inputPath, Path outputPath) {
        String prefix = "{\"runtime\": \"tensorflow-java\", \"tensorflow_version\": " + Npy.json(TensorFlow.version())
                + ", \"model\": " + Npy.json(modelDir);
        long started = System.nanoTime();
        try (SavedModelBundle bundle = SavedModelBundle.load(modelDir, TAG)) {
            double loadMs = (System.nanoTime() - started) / 1e6;
            SignatureDef signature = MetaGraphDef.parseFrom(bundle.metaGraphDef().toByteArray())
                    .getSignatureDefOrThrow(SIGNATURE);
            TensorInfo input = signature.getInputsMap().values().iterator().next();
            TensorInfo output = signature.getOutputsMap().values().iterator().next();
            Npy x = Npy.read(inputPath);
            long runStarted = System.nanoTime();
            try (TFloat32 tensor = TFloat32.tensorOf(Shape.of(x.shape), DataBuffers.of(x.data, true, false));
                 Result fetched = bundle.session().runner()
                         .feed(Npy.opName(input.getName()), tensor)
                         .fetch(Npy.opName(output.getName()))
                         .run()) {
                TFloat32 result = (TFloat32) fetched.get(0);
                double runMs = (System.nanoTime() - runStarted) / 1e6;
                float[] values = new float[(int) result.shape().size()];
                result.read(DataBuffers.of(values, false, false));
                new Npy(result.shape().asArray(), values).write(outputPath);
                return prefix + ", \"ok\": true, \"load_ms\": " + loadMs + ", \"run_ms\": " + runMs
                        + ", \"input\": " + Npy.json(input.getName()) + ", \"output\": " + Npy.json(output.getName())
                        + "}";
            }
        } catch (Throwable error) {
            return prefix + ", \"ok\": false, \"error\": " + Npy.json(error.toString()) + "}";
        }
    }
}
