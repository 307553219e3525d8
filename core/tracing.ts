/**
 * OpenTelemetry tracing through Temporal's plugin (`@temporalio/interceptors-opentelemetry`): one trace
 * per job, from the client's start through the workflow to every activity attempt and compensation.
 * Retries stay in the same trace because the context travels in the workflow's and activities' headers.
 * The exporter is chosen by configuration: none, console, or OTLP over HTTP.
 */
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry';

export type TracingExporter = 'none' | 'console' | 'otlp';

export interface Tracing {
  plugin: OpenTelemetryPlugin;
  /** Flushes and stops the exporter. */
  shutdown(): Promise<void>;
}

/** Tracing that exports through `exporter` (tests pass an in-memory one). */
export function tracingWith(exporter: SpanExporter, serviceName: string, batch = false): Tracing {
  const spanProcessor = batch ? new BatchSpanProcessor(exporter) : new SimpleSpanProcessor(exporter);
  const resource = new Resource({ 'service.name': serviceName });
  const provider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  // Async context is what carries the active span across awaits and into the headers Temporal sends.
  provider.register({ contextManager: new AsyncLocalStorageContextManager().enable() });
  return {
    plugin: new OpenTelemetryPlugin({ resource, spanProcessor }),
    shutdown: () => provider.shutdown(),
  };
}

/** Tracing as configured; undefined for `none`. `otlpUrl` defaults to the collector's standard traces endpoint. */
export function tracingFor(kind: TracingExporter, serviceName: string, otlpUrl?: string): Tracing | undefined {
  if (kind === 'none') return undefined;
  const exporter = kind === 'console' ? new ConsoleSpanExporter() : new OTLPTraceExporter(otlpUrl ? { url: otlpUrl } : {});
  return tracingWith(exporter, serviceName, kind === 'otlp');
}

/** The trace id of the active span (an activity attempt, a client call), or null outside any trace. */
export function activeTraceId(): string | null {
  const context = trace.getActiveSpan()?.spanContext();
  return context && isSpanContextValid(context) ? context.traceId : null;
}

/** Runs `fn` inside a new active span, so work it starts (a workflow start) joins that span's trace. */
export function inSpan<T>(name: string, fn: () => Promise<T>): Promise<T> {
  return trace.getTracer('jobledger').startActiveSpan(name, async (span) => {
    try {
      return await fn();
    } finally {
      span.end();
    }
  });
}
