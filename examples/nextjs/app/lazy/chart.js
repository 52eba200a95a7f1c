"use client";

const BARS = [3, 7, 4, 9, 6, 2, 8];

export default function Chart() {
  return (
    <svg id="chart" width="280" height="100" role="img" aria-label="bar chart">
      {BARS.map((value, index) => (
        <rect key={index} x={index * 40} y={100 - value * 10} width="30" height={value * 10} />
      ))}
    </svg>
  );
}
