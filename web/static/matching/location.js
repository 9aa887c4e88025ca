// Location picker of the matching post forms: a Leaflet map bound to the latitude and longitude
// inputs. Click or drag the marker to set the point; typing in the inputs moves the marker.
// Without this script, or without tiles (data-tiles empty), the inputs alone work.
(function () {
  "use strict";
  var box = document.getElementById("location-map");
  var lat = document.getElementById("f-latitude");
  var lon = document.getElementById("f-longitude");
  if (!box || !lat || !lon || typeof L === "undefined" || !box.dataset.tiles) {
    return;
  }
  box.hidden = false;
  var start = [parseFloat(lat.value || box.dataset.lat), parseFloat(lon.value || box.dataset.lon)];
  var map = L.map(box).setView(start, 11);
  L.tileLayer(box.dataset.tiles, { maxZoom: 18, attribution: box.dataset.attribution || "" }).addTo(map);
  var marker = L.marker(start, { draggable: true }).addTo(map);

  function fill(point) {
    lat.value = point.lat.toFixed(5);
    lon.value = point.lng.toFixed(5);
  }
  function follow() {
    var a = parseFloat(lat.value);
    var b = parseFloat(lon.value);
    if (isFinite(a) && isFinite(b) && Math.abs(a) <= 90 && Math.abs(b) <= 180) {
      marker.setLatLng([a, b]);
      map.panTo([a, b]);
    }
  }
  map.on("click", function (event) {
    marker.setLatLng(event.latlng);
    fill(event.latlng);
  });
  marker.on("dragend", function () {
    fill(marker.getLatLng());
  });
  lat.addEventListener("change", follow);
  lon.addEventListener("change", follow);

  var here = document.getElementById("location-here");
  if (here && navigator.geolocation) {
    here.hidden = false;
    here.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (position) {
        var point = L.latLng(position.coords.latitude, position.coords.longitude);
        marker.setLatLng(point);
        map.setView(point, 14);
        fill(point);
      });
    });
  }
})();
