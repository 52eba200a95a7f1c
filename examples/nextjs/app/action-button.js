"use client";

import { useState } from "react";
import { whichBuild } from "./actions";

export default function ActionButton() {
  const [answer, setAnswer] = useState("");
  return (
    <p>
      <button id="action" type="button" onClick={async () => setAnswer(await whichBuild())}>
        Ask the server which build runs this action
      </button>{" "}
      <output id="action-result">{answer}</output>
    </p>
  );
}
