/* The weekly report page: draws every chart from the JSON feed with Chart.js and refreshes itself when the
   snapshot's validity (valido_ate) ends. No inline script anywhere, so it runs under `default-src 'self'`. */
(function () {
  "use strict";

  var PALETTE = ["#2b59c3", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d5a97", "#30638e", "#e76f51",
                 "#6c757d", "#a44a3f"];
  var CATEGORY_COLOURS = { "ELOGIO": "#2a9d8f", "CRÍTICA": "#d1495b", "SUGESTÃO": "#edae49",
                           "DÚVIDA": "#30638e", "SPAM": "#8d99ae" };
  var charts = {};
  var statusEl = document.getElementById("estado");
  var refreshSeconds = parseInt(statusEl.getAttribute("data-refresh-seconds"), 10) || 60;
  var updates = 0;

  function feedUrl() {
    var params = new URLSearchParams(window.location.search);
    var out = new URLSearchParams();
    out.set("format", "json");
    ["artista", "album"].forEach(function (key) {
      if (params.get(key)) { out.set(key, params.get(key)); }
    });
    return "/relatorio/semana?" + out.toString();
  }

  function colour(name, i) { return CATEGORY_COLOURS[name] || PALETTE[i % PALETTE.length]; }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  /* "2026-12-06T14:00:00Z" -> "06/12 11h" in the browser's time zone: 48 hourly labels stay readable. */
  function hourLabel(iso) {
    var d = new Date(iso);
    return pad(d.getDate()) + "/" + pad(d.getMonth() + 1) + " " + pad(d.getHours()) + "h";
  }

  function config(chart) {
    var line = chart.tipo === "linhas";
    var hourly = chart.id === "comentarios_por_hora";
    // Hype: the volume change (can be +300%) gets its own axis on the right, drawn as points over the share bars
    // (0-100%), so neither series flattens the other.
    var hype = chart.id === "hype_por_artista";
    // Confidence is a fraction (0-1) and the share below the threshold a percentage (0-100): one axis each, or the
    // confidence bars would be a sliver next to the percentages.
    var confidence = chart.id === "confianca_media_por_categoria";
    var datasets = chart.series.map(function (s, i) {
      var ds = { label: s.nome, data: s.valores, backgroundColor: colour(s.nome, i),
                 borderColor: colour(s.nome, i), borderWidth: line ? 2 : 0, spanGaps: false,
                 pointRadius: line ? (hourly ? 0 : 2) : 0, tension: 0.2 };
      if (hype && i === 1) {
        ds.type = "line";
        ds.yAxisID = "y1";
        ds.showLine = false;
        ds.pointRadius = 7;
        ds.pointHoverRadius = 9;
        ds.pointStyle = "rectRot";
        ds.borderWidth = 2;
        ds.borderColor = "#1d3557";
        ds.backgroundColor = "#e76f51";
        ds.order = 0;
      }
      if (confidence && i === 1) {
        ds.yAxisID = "y1";
      }
      return ds;
    });
    var stacked = chart.tipo === "barras_empilhadas";
    var scales = {
      x: { stacked: stacked,
           ticks: hourly ? { autoSkip: true, maxTicksLimit: 12, maxRotation: 0 }
                         : { maxRotation: 60, autoSkip: true } },
      y: { stacked: stacked, beginAtZero: true }
    };
    if (hourly) {  // the feed's hours are UTC; the page shows them in the reader's own time zone
      scales.x.title = { display: true, text: "Hora local (dia/mês hora)" };
    }
    if (hype || confidence) {
      scales.y.title = { display: true, text: chart.series[0] ? chart.series[0].nome : "" };
      scales.y1 = { position: "right", grid: { drawOnChartArea: false },
                    title: { display: true, text: chart.series[1] ? chart.series[1].nome : "" } };
    }
    if (confidence) {
      scales.y.max = 1;
      scales.y1.beginAtZero = true;
      scales.y1.max = 100;
    }
    return {
      type: line ? "line" : "bar",
      data: { labels: hourly ? chart.labels.map(hourLabel) : chart.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: scales
      }
    };
  }

  function hasData(chart) {
    return chart.labels.length > 0 && chart.series.some(function (s) {
      return s.valores.some(function (v) { return v !== null; });
    });
  }

  function draw(id, chart) {
    var section = document.getElementById("grafico-" + id);
    if (!section) { return; }
    section.querySelector(".titulo").textContent = chart.titulo;
    section.querySelector(".descricao").textContent = chart.descricao;
    section.querySelector(".link-json").setAttribute("href", chart.json_url);
    section.querySelector(".link-csv").setAttribute("href", chart.csv_url);
    var alerts = (chart.extra && chart.extra.alertas) || [];
    if (alerts.length) {
      section.querySelector(".descricao").textContent += " Alerta: " + alerts.join(", ") + ".";
      section.querySelector(".descricao").classList.add("alerta");
    }
    section.querySelector(".vazio").hidden = hasData(chart);
    var cfg = config(chart);
    if (charts[id]) {
      charts[id].data = cfg.data;
      charts[id].options.scales = cfg.options.scales;
      charts[id].update();
    } else {
      charts[id] = new window.Chart(section.querySelector("canvas"), cfg);
    }
    section.setAttribute("data-desenhado", "1");
  }

  function when(iso) {
    return new Date(iso).toLocaleString("pt-BR", { dateStyle: "short", timeStyle: "medium" });
  }

  function schedule(validUntil) {
    var wait = validUntil ? (new Date(validUntil).getTime() - Date.now()) + 1000 : refreshSeconds * 1000;
    wait = Math.min(Math.max(wait, 5000), refreshSeconds * 1000);
    window.setTimeout(load, wait);
  }

  function load() {
    fetch(feedUrl(), { headers: { "Accept": "application/json" } })
      .then(function (resp) {
        if (!resp.ok) { throw new Error("HTTP " + resp.status); }
        var source = resp.headers.get("X-Relatorio-Fonte") || "cache";
        return resp.json().then(function (data) { return { data: data, source: source }; });
      })
      .then(function (result) {
        var data = result.data;
        document.getElementById("semana").textContent = data.semana;
        Object.keys(data.graficos).forEach(function (id) { draw(id, data.graficos[id]); });
        updates += 1;
        document.body.setAttribute("data-atualizacoes", String(updates));
        statusEl.className = "estado" + (result.source === "cache" ? "" : " atrasado");
        statusEl.textContent = "Dados gerados em " + when(data.gerado_em) + " (válidos até " +
          when(data.valido_ate) + ", fuso " + data.fuso_horario + ")" +
          (result.source === "cache" ? "." : " — cópia " + result.source + ".");
        schedule(data.valido_ate);
      })
      .catch(function (err) {
        statusEl.className = "estado erro";
        statusEl.textContent = "Não foi possível atualizar os dados (" + err.message + "). Nova tentativa em instantes.";
        schedule(null);
      });
  }

  document.addEventListener("DOMContentLoaded", load);
})();
