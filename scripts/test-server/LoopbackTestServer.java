// Starts Temporal's time-skipping test server bound to 127.0.0.1 only.
// Same arguments as io.temporal.testserver.TestServer: <port> [--enable-time-skipping].
// The stock main class binds every interface; this launcher differs only in the bind address.
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.temporal.internal.testservice.GRPCServerHelper;
import io.temporal.internal.testservice.TestServicesStarter;
import java.net.InetSocketAddress;

public final class LoopbackTestServer {
  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("Usage: temporal-test-server <port> [--enable-time-skipping]");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    boolean timeSkippingOnStart = false;
    for (int i = 1; i < args.length; i++) {
      if (args[i].equalsIgnoreCase("--enable-time-skipping")) timeSkippingOnStart = true;
      else {
        System.err.println("Unknown flag " + args[i]);
        System.exit(2);
      }
    }
    // As in TestServer.main: time skipping starts locked unless the flag asks otherwise.
    TestServicesStarter services = new TestServicesStarter(!timeSkippingOnStart, 0L);
    NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port));
    GRPCServerHelper.registerServicesAndHealthChecks(services.getServices(), builder);
    Server server = builder.build().start();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.shutdownNow();
      services.close();
    }));
    server.awaitTermination();
  }
}
