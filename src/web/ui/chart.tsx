import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface Series {
  label: string;
  color: string;
  dash?: number[];
}

/**
 * A time chart over uPlot. `data` is [times(s), ...values]; the chart is created once and
 * handed new data with setData, so a reading costs one redraw, not a rebuild.
 */
export function Chart({ id, title, series, data, fmt }: { id: string; title: string; series: Series[]; data: number[][]; fmt: (v: number) => string }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  useEffect(() => {
    const opts: uPlot.Options = {
      title,
      width: Math.max(300, (el.current!.clientWidth || 480) - 8),
      height: 180,
      // the last two minutes, newest on the right
      scales: { x: { time: true, range: (_u, _min, max) => [max - 120, max] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [{ space: 90, values: (_u, vals) => vals.map((v) => new Date(v * 1000).toTimeString().slice(0, 8)) }, { values: (_u, vals) => vals.map((v) => fmt(v)), size: 70 }],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, dash: s.dash, value: (_u: uPlot, v: number | null) => (v == null ? '—' : fmt(v)) }))],
    };
    plot.current = new uPlot(opts, data as uPlot.AlignedData, el.current!);
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);
  return <div class="chart" id={id} data-points={data[0]?.length ?? 0} ref={el} />;
}
